import CCurl
import Foundation

/// One libcurl easy transfer: options, an upload body fed from memory, the response body
/// collected (capped), and the outcome. A new handle per transfer keeps it simple and
/// thread-safe; delivery runs are not hot.
final class CurlTransfer {
    struct Outcome {
        var code: CURLcode
        /// The last SMTP reply code or HTTP status.
        var responseCode: Int
        var errorText: String
        var body: [UInt8]

        var succeeded: Bool { code == CURLE_OK }
    }

    /// `curl_global_init` is not thread-safe: run it once, before any handle exists.
    static let initialised: Bool = curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK

    private let handle: UnsafeMutableRawPointer
    private var upload: [UInt8] = []
    private var uploadOffset = 0
    private var response: [UInt8] = []
    private var lists: [UnsafeMutablePointer<curl_slist>] = []
    private var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
    static let maximumResponseBytes = 64 << 10

    init?() {
        guard Self.initialised, let handle = curl_easy_init() else { return nil }
        self.handle = handle
        set(CURLOPT_NOSIGNAL, 1)
        set(CURLOPT_CONNECTTIMEOUT, 10)
        set(CURLOPT_TIMEOUT, 60)
    }

    deinit {
        for list in lists { curl_slist_free_all(list) }
        curl_easy_cleanup(handle)
    }

    func set(_ option: CURLoption, _ value: Int) { _ = sp_curl_set_long(handle, option, value) }
    func set(_ option: CURLoption, _ value: String) { _ = sp_curl_set_string(handle, option, value) }

    /// A list option (recipients, headers); libcurl reads the list during `perform`.
    func set(_ option: CURLoption, list values: [String]) {
        var list: UnsafeMutablePointer<curl_slist>?
        for value in values { list = curl_slist_append(list, value) }
        guard let list else { return }
        lists.append(list)
        _ = sp_curl_set_list(handle, option, list)
    }

    /// Data sent to the server (the mail, a POST body).
    func setUpload(_ bytes: [UInt8]) { upload = bytes }

    func perform() -> Outcome {
        let context = Unmanaged.passUnretained(self).toOpaque()
        _ = sp_curl_set_pointer(handle, CURLOPT_READDATA, context)
        _ = sp_curl_set_read_function(handle, Self.read)
        _ = sp_curl_set_pointer(handle, CURLOPT_WRITEDATA, context)
        _ = sp_curl_set_write_function(handle, Self.write)
        let code = errorBuffer.withUnsafeMutableBufferPointer { buffer -> CURLcode in
            _ = sp_curl_set_pointer(handle, CURLOPT_ERRORBUFFER, buffer.baseAddress)
            return curl_easy_perform(handle)
        }
        _ = sp_curl_set_pointer(handle, CURLOPT_ERRORBUFFER, nil)
        var responseCode = 0
        _ = sp_curl_get_long(handle, CURLINFO_RESPONSE_CODE, &responseCode)
        var text = String(decoding: errorBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if text.isEmpty { text = String(cString: curl_easy_strerror(code)) }
        return Outcome(code: code, responseCode: responseCode, errorText: text, body: response)
    }

    static let read: curl_read_callback = { buffer, size, count, context in
        guard let buffer, let context else { return 0 }
        let transfer = Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue()
        let room = size * count
        let remaining = transfer.upload.count - transfer.uploadOffset
        let length = min(room, remaining)
        if length > 0 {
            transfer.upload.withUnsafeBytes { bytes in
                buffer.withMemoryRebound(to: UInt8.self, capacity: length) { target in
                    target.update(
                        from: bytes.baseAddress!.assumingMemoryBound(to: UInt8.self) + transfer.uploadOffset,
                        count: length)
                }
            }
            transfer.uploadOffset += length
        }
        return length
    }

    static let write: curl_write_callback = { data, size, count, context in
        guard let data, let context else { return 0 }
        let transfer = Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue()
        let length = size * count
        let keep = min(length, maximumResponseBytes - transfer.response.count)
        if keep > 0 {
            data.withMemoryRebound(to: UInt8.self, capacity: keep) {
                transfer.response.append(contentsOf: UnsafeBufferPointer(start: $0, count: keep))
            }
        }
        return length
    }
}
