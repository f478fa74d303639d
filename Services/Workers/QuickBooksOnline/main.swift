// worker-quickbooks-online: the shared worker runtime around the QuickBooks Online connector.
import Connectors
import WorkerRuntime

await WorkerMain.run(connector: QuickBooksOnlineConnector.self, adminPort: 9112)
