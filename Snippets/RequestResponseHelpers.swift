// Request and response helpers: gzip for clients that accept it, a JSON body decoded into a
// type, a redirect that sets a cookie, a cookie read and Cache-Control set.

import Spindle
import SpindleHTTP

struct Order: Decodable {
    let id: Int
}

let router = Router<Handler>()
router.add(middleware: ResponseCompressionMiddleware())
router.post("/orders") { request, _ in
    let order = try request.decode(Order.self)
    var response = try Response.redirect(to: "/orders/\(order.id)")   // 303 See Other
    try response.setCookie(SetCookie(name: "last-order", value: "\(order.id)", httpOnly: true))
    return response
}
router.get("/") { request, _ in
    let theme = request.cookie("theme") ?? "light"   // request.cookies: all of them
    var response = Response.text("theme: \(theme)\n")
    response.cacheControl(.private, .maxAge(60))
    return response
}
// snippet.hide
try Server(router: router).run()
