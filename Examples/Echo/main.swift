// Echo: a TCP echo server on Spindle's io_uring runtime. Each connection is served by a fiber
// that reads and writes in blocking style; one SO_REUSEPORT listener per worker.
//
//   swift run -c release spindle-echo [--host 127.0.0.1] [--port 7000] [--workers N]
import SpindleFibers
import SpindleIO

var host = "127.0.0.1"
var port = 7000
var workers: Int? = nil
var arguments = CommandLine.arguments.dropFirst()
while let flag = arguments.popFirst() {
    guard let value = arguments.popFirst() else { fatalError("\(flag) needs a value") }
    switch flag {
    case "--host": host = value
    case "--port": port = Int(value) ?? port
    case "--workers": workers = Int(value)
    default: fatalError("unknown option \(flag); use --host, --port, --workers")
    }
}

let runtime = Runtime(configuration: .init(workers: workers))
var listeners: [TCPListener] = []
do {
    let first = try TCPListener(host: host, port: port)
    listeners = [first]
    for _ in 1..<runtime.configuration.workers {
        listeners.append(try TCPListener(address: first.address))
    }
} catch {
    fatalError("cannot listen on \(host):\(port): \(error)")
}
print("spindle-echo listening on \(listeners[0].address) with \(runtime.configuration.workers) workers")

let all = listeners
do {
    try runtime.run { worker in
        let listener = all[worker.index]
        while true {
            let connection = try listener.accept()
            Fiber.spawn {
                var buffer = [UInt8](repeating: 0, count: 16 << 10)
                while true {
                    let n = try buffer.withUnsafeMutableBytes { try connection.read(into: $0) }
                    if n == 0 { return }
                    try buffer.withUnsafeBytes { try connection.write(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                }
            }
        }
    }
} catch {
    fatalError("\(error)")
}
