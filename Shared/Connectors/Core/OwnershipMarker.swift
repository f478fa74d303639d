import Foundation

/// The text Ledgerline writes into an ERP document to prove later that the document is its own, e.g.
/// `Ledgerline ref: inv_01HZX3K8Q7T2` at the end of a QuickBooks `PrivateNote` or a Xero payment reference.
///
/// Shop ids are 1–128 visible ASCII characters, so the id runs to the end of the line.
public enum OwnershipMarker {
    /// The marker's prefix.
    public static let prefix = "Ledgerline ref: "

    /// The marker for a shop id.
    public static func text(for id: String) -> String { prefix + id }

    /// The shop id in the last marker found in `text`, or `nil`.
    public static func id(in text: String?) -> String? {
        guard let text, let range = text.range(of: prefix, options: .backwards) else { return nil }
        let id = text[range.upperBound...].prefix { $0 != "\n" && $0 != "\r" }
        let trimmed = id.trimmingCharacters(in: .whitespaces)
        return trimmed.isEmpty ? nil : trimmed
    }
}
