import HeraldCore
import Hummingbird

/// `Authorization: Bearer <token>`, compared in constant time. No configured token: the API is disabled.
struct BearerTokenMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let token: String?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let token else {
            throw HTTPError(.notFound, message: "The registration API is off: set admin.token to enable it.")
        }
        let header = request.headers[.authorization] ?? ""
        let prefix = "Bearer "
        guard header.hasPrefix(prefix), constantTimeEquals(String(header.dropFirst(prefix.count)), token) else {
            throw HTTPError(.unauthorized, headers: [.wwwAuthenticate: "Bearer realm=\"herald\""], message: "Missing or wrong bearer token.")
        }
        return try await next(request, context)
    }
}
