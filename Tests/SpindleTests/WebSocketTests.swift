// WebSocket over real sockets against a real client (Python's `websockets`, and raw frames a
// library would refuse to send): echo, fragmentation, ping/pong, close codes, hostile frames
// each closing that one socket with the right code while the server keeps serving, a client
// that never reads, and handshakes that are not upgrades.
import Foundation
import HTTPTypes
import Spindle
import SpindleFibers
import SpindleHTTP
import SpindleTestSupport
import XCTest

final class WebSocketTests: ServerTestCase {
    private static let peer = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Peers/websocket_peer.py").path

    /// Runs the Python peer's `scenario` against `port` (at most 30 s); its output lines.
    private func runPeer(_ scenario: String, port: Int) throws -> [String] {
        let run = try runPeerScript(Self.peer, arguments: [scenario, String(port)], timeout: .seconds(30))
        if run.timedOut { XCTFail("websocket_peer.py \(scenario) did not finish within 30 s") }
        let lines = run.lines
        for line in lines where !line.hasPrefix("ok") && line != "done" { XCTFail("\(scenario): \(line)") }
        XCTAssertEqual(lines.last, "done", "\(scenario) ran to its end: \(lines)")
        XCTAssertEqual(run.status, 0, "\(scenario): \(lines)")
        return lines
    }

    private func startWebSocketServer(floodOutcome: Locked<String>? = nil) throws -> TestServer {
        try startServer(configure: { $0.writeTimeout = .seconds(1) }) { router in
            router.webSocket("/echo") { socket, _ in
                while let message = try socket.receive() {
                    switch message {
                    case .text(let text): try socket.send(text)
                    case .binary(let bytes): try socket.send(bytes)
                    }
                }
            }
            router.webSocket("/small", configuration: WebSocketConfiguration(maxMessageBytes: 1024)) { socket, _ in
                while let message = try socket.receive() { if case .text(let text) = message { try socket.send(text) } }
            }
            router.webSocket("/idle", configuration: WebSocketConfiguration(pingInterval: .milliseconds(200), pongTimeout: .milliseconds(300))) { socket, _ in
                while try socket.receive() != nil {}
            }
            router.webSocket("/flood") { socket, _ in
                let chunk = [UInt8](repeating: 0x61, count: 64 << 10)
                do {
                    while true { try socket.send(chunk) }
                } catch {
                    floodOutcome?.withLock { $0 = "\(error)" }
                }
            }
            router.get("/plaintext") { _, _ in .text("still here") }
        }
    }

    private func serverStillAnswers(_ server: TestServer) throws {
        let client = try TestClient(port: server.port)
        try client.send("GET /plaintext HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        XCTAssertEqual(try client.readResponse().bodyString, "still here")
    }

    func testEchoFragmentationPingAndCloseWithARealClient() throws {
        let server = try startWebSocketServer()
        let lines = try runPeer("echo", port: server.port)
        XCTAssertEqual(lines.filter { $0.hasPrefix("ok") }.count, 6)
        try serverStillAnswers(server)
    }

    func testHostileFramesCloseThatSocketWithTheRightCode() throws {
        let server = try startWebSocketServer()
        for scenario in ["unmasked", "bad-utf8", "too-big", "bad-close", "silent"] {
            _ = try runPeer(scenario, port: server.port)
            try serverStillAnswers(server)
        }
    }

    func testAClientThatNeverReadsEndsOnlyItsOwnSession() throws {
        let outcome = Locked("")
        let server = try startWebSocketServer(floodOutcome: outcome)
        let client = try TestClient(port: server.port)
        try client.send("GET /flood HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        // Never read: the server's sends fill the socket buffers, then its write deadline (1 s) fires.
        XCTAssertTrue(waitUntil(timeout: .seconds(15)) { !outcome.current.isEmpty }, "the flooding session ended")
        XCTAssertTrue(outcome.current.contains("closed"), outcome.current)
        try serverStillAnswers(server)
    }

    func testHandshakeAnswerAndRefusals() throws {
        let server = try startWebSocketServer()
        let client = try TestClient(port: server.port)
        // The RFC 6455 §1.3 example key and its answer.
        try client.send("GET /echo HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
                        + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        let accepted = try client.readResponse(isHEAD: true)
        XCTAssertEqual(accepted.status, 101)
        XCTAssertEqual(accepted.header("sec-websocket-accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        XCTAssertEqual(accepted.header("upgrade"), "websocket")
        XCTAssertEqual(accepted.header("connection"), "Upgrade")

        for (extra, status) in [("Sec-WebSocket-Version: 8\r\n", 426), ("", 400)] {
            let refused = try TestClient(port: server.port)
            let key = extra.isEmpty ? "" : "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            try refused.send("GET /echo HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\(key)\(extra)"
                             + (extra.isEmpty ? "Sec-WebSocket-Version: 13\r\n" : "") + "Connection: close\r\n\r\n")
            let response = try refused.readResponse()
            XCTAssertEqual(response.status, status)
            if status == 426 { XCTAssertEqual(response.header("sec-websocket-version"), "13") }
        }
        try serverStillAnswers(server)
    }

    func testFrameHeaderParsingTable() {
        struct Row { let bytes: [UInt8]; let expected: WebSocketFrameParse; let why: String }
        let key: [UInt8] = [1, 2, 3, 4]
        let rows: [Row] = [
            Row(bytes: [0x81], expected: .incomplete, why: "one byte"),
            Row(bytes: [0x81, 0x85] + key, expected: .header(.init(isFinal: true, opcode: .text, maskingKey: (1, 2, 3, 4), payloadLength: 5, headerLength: 6)), why: "masked text"),
            Row(bytes: [0x81, 0x05], expected: .violation(.protocolError, "client frames must be masked"), why: "unmasked"),
            Row(bytes: [0xC1, 0x85] + key, expected: .violation(.protocolError, "reserved bits set without a negotiated extension"), why: "RSV1"),
            Row(bytes: [0x83, 0x80] + key, expected: .violation(.protocolError, "unknown opcode 3"), why: "opcode 3"),
            Row(bytes: [0x09, 0x80] + key, expected: .violation(.protocolError, "fragmented control frame"), why: "ping without FIN"),
            Row(bytes: [0x82, 0xFE, 0x00, 0x7D] + key, expected: .violation(.protocolError, "length not in its minimal encoding"), why: "125 in 16 bits"),
            Row(bytes: [0x89, 0xFE, 0x00, 0x7E] + key, expected: .violation(.protocolError, "control frame over 125 bytes"), why: "a 126-byte ping"),
            Row(bytes: [0x82, 0xFE, 0x01, 0x00] + key, expected: .header(.init(isFinal: true, opcode: .binary, maskingKey: (1, 2, 3, 4), payloadLength: 256, headerLength: 8)), why: "16-bit length"),
            Row(bytes: [0x82, 0xFF, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF] + key, expected: .violation(.protocolError, "length not in its minimal encoding"), why: "65535 in 64 bits"),
            Row(bytes: [0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0] + key, expected: .violation(.protocolError, "64-bit length with its top bit set"), why: "top bit"),
            Row(bytes: [0x82, 0xFF, 0, 0, 0, 0, 0, 0x10, 0, 0] + key, expected: .violation(.messageTooBig, "frame of 1048576 bytes over the 65536-byte limit"), why: "over the limit"),
            Row(bytes: [0x89, 0xFE], expected: .incomplete, why: "extended length not yet here"),
            Row(bytes: [0x82, 0xFE, 0x00, 0x7D], expected: .violation(.protocolError, "length not in its minimal encoding"), why: "checked before the key"),
            Row(bytes: [0x88, 0xFE, 0x00, 0xC8] + key, expected: .violation(.protocolError, "control frame over 125 bytes"), why: "200-byte close"),
        ]
        for row in rows {
            let got = row.bytes.withUnsafeBytes { WebSocketFrameHeader.parse($0, maxPayload: 65536) }
            XCTAssertEqual(got, row.expected, row.why)
        }
    }

    func testUTF8ValidatorAcrossFragments() {
        func valid(_ pieces: [[UInt8]]) -> Bool {
            var validator = UTF8Validator()
            for piece in pieces where !piece.withUnsafeBytes({ validator.consume($0) }) { return false }
            return validator.isComplete
        }
        XCTAssertTrue(valid([Array("héllo €𝄞".utf8)]))
        XCTAssertTrue(valid([[0xE2, 0x82], [0xAC]]), "a character split across fragments")
        XCTAssertFalse(valid([[0xE2, 0x82]]), "a message ending inside a character")
        XCTAssertFalse(valid([[0xC0, 0x80]]), "overlong NUL")
        XCTAssertFalse(valid([[0xED, 0xA0, 0x80]]), "a UTF-16 surrogate")
        XCTAssertFalse(valid([[0xF4, 0x90, 0x80, 0x80]]), "above U+10FFFF")
        XCTAssertFalse(valid([[0xFF]]), "0xFF")
        XCTAssertFalse(valid([[0x80]]), "a lone continuation byte")
    }
}
