import Foundation

/// The demo's self-signed certificate, made with the openssl command-line tool.
enum Certificate {
    /// Creates `cert.pem` and `key.pem` in `directory` unless both exist: valid for
    /// `localhost` and `127.0.0.1`, ECDSA P-256, 825 days.
    static func ensureSelfSigned(directory: String) throws {
        let certificate = directory + "/cert.pem"
        let key = directory + "/key.pem"
        let files = FileManager.default
        if files.fileExists(atPath: certificate) && files.fileExists(atPath: key) { return }
        try files.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-days", "825", "-subj", "/CN=localhost/O=Sprechstunde demo",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1",
            "-keyout", key, "-out", certificate,
        ]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw UsageError(
                description:
                    "cannot run openssl to make the demo certificate: install it with 'apt-get install openssl'")
        }
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            throw UsageError(description: "openssl could not make the demo certificate: \(message)")
        }
        chmod(key, 0o600)
    }
}
