/// A request a connection gave back unprocessed (never written, REFUSED_STREAM, above GOAWAY's last
/// stream id); the pool sends it on another connection.
struct RequestNotProcessed: Error {}
