// worker-xero: the shared worker runtime around the Xero connector.
import Connectors
import WorkerRuntime

await WorkerMain.run(connector: XeroConnector.self, adminPort: 9111)
