internal import CRabbitMQ

/// The one place where rabbitmq-c status codes and broker close methods become ``AMQPError`` values.
extension AMQPError {
    /// What the failing call was doing, which decides how an ambiguous failure is named.
    enum Phase {
        /// Opening the TCP socket: every failure is `connectionFailed`.
        case connect
        /// `amqp_login`: a `403` is a wrong user or password.
        case login
        /// Anything after login.
        case established
    }

    /// Converts a negative `AMQP_STATUS_*` code.
    init(libraryStatus status: Int32, call: String, host: String?, phase: Phase = .established,
         file: String = #fileID, line: Int = #line) {
        let detail = String(cString: amqp_error_string2(status))
        let code: Code
        switch status {
        case AMQP_STATUS_TIMEOUT.rawValue:
            code = phase == .connect ? .connectionFailed : .timeout
        case _ where phase == .connect:
            code = .connectionFailed
        case AMQP_STATUS_CONNECTION_CLOSED.rawValue, AMQP_STATUS_SOCKET_ERROR.rawValue,
            AMQP_STATUS_SOCKET_CLOSED.rawValue, AMQP_STATUS_HEARTBEAT_TIMEOUT.rawValue,
            AMQP_STATUS_TCP_ERROR.rawValue, AMQP_STATUS_SSL_ERROR.rawValue:
            code = .connectionClosed
        case AMQP_STATUS_INVALID_PARAMETER.rawValue, AMQP_STATUS_TABLE_TOO_BIG.rawValue:
            code = .invalidArgument
        case AMQP_STATUS_HOSTNAME_RESOLUTION_FAILED.rawValue:
            code = .connectionFailed
        default:
            code = .protocolError
        }
        self.init(code: code, host: host, call: call, libraryStatus: status, detail: detail, file: file, line: line)
    }

    /// Converts a `channel.close` or `connection.close` sent by the broker.
    init(brokerReplyCode replyCode: UInt16, replyText: String, connectionLevel: Bool, call: String, host: String?,
         phase: Phase = .established, file: String = #fileID, line: Int = #line) {
        let code: Code
        switch Int32(replyCode) {
        case AMQP_ACCESS_REFUSED where phase == .login:
            code = .authenticationFailed
        case AMQP_ACCESS_REFUSED, AMQP_NOT_ALLOWED:
            code = .accessRefused
        case AMQP_NOT_FOUND:
            code = .notFound
        case AMQP_PRECONDITION_FAILED:
            code = .preconditionFailed
        case AMQP_RESOURCE_LOCKED:
            code = .resourceLocked
        case AMQP_FRAME_ERROR, AMQP_SYNTAX_ERROR, AMQP_COMMAND_INVALID, AMQP_UNEXPECTED_FRAME, AMQP_NOT_IMPLEMENTED:
            code = .protocolError
        default:
            code = connectionLevel ? .connectionClosed : .channelClosed
        }
        self.init(code: code, replyCode: replyCode, replyText: replyText, host: host, call: call, file: file, line: line)
    }
}

extension String {
    /// Copies an `amqp_bytes_t` (not NUL-terminated) into a Swift string, repairing invalid UTF-8.
    init(amqpBytes bytes: amqp_bytes_t) {
        guard let pointer = bytes.bytes, bytes.len > 0 else {
            self = ""
            return
        }
        self = String(decoding: UnsafeRawBufferPointer(start: pointer, count: bytes.len), as: UTF8.self)
    }
}
