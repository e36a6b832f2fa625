// The curl command lines README.md shows for the files example, run as written (but for the
// port) against the app on a live server over the demo site and an empty uploads directory,
// and what they print checked.
import FilesApp
import Foundation
import Spindle
import SpindleTestSupport
import XCTest

final class FilesReadmeTests: XCTestCase {
    func testTheReadmeCommandLinesWork() throws {
        let uploads = NSTemporaryDirectory() + "spindle-files-readme-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: uploads, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: uploads) }
        let router = try FilesRoutes.router(configuration: FilesConfiguration(uploadsDirectory: uploads))
        let server = Server(router: router, configuration: ServerConfiguration(host: "127.0.0.1", port: 0))
        let port = try server.start().port
        defer {
            server.stop()
            server.wait()
        }
        let outputs = try ReadmeCommands.runCurlLines(section: "### files", expecting: 3, port: port)
        let uploaded = try Data(contentsOf: URL(fileURLWithPath: "/etc/os-release"))
        XCTAssertEqual(outputs[0], "created /uploads/os-release.txt (\(uploaded.count) bytes)\n")
        XCTAssertEqual(FileManager.default.contents(atPath: uploads + "/os-release.txt"), uploaded)
        XCTAssertEqual(outputs[1], String(decoding: uploaded.prefix(16), as: UTF8.self))
        XCTAssertEqual(outputs[2], "200\n304\n")
    }
}
