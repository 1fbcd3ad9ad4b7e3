import Crypto

/// XEP-0114 §2: the handshake is the lowercase hex SHA-1 of the stream id followed by the shared secret.
public enum ComponentHandshake {
    public static func digest(streamID: String, secret: String) -> String {
        let hash = Insecure.SHA1.hash(data: Array((streamID + secret).utf8))
        var hex = ""
        hex.reserveCapacity(40)
        for byte in hash {
            hex += byte < 16 ? "0" + String(byte, radix: 16) : String(byte, radix: 16)
        }
        return hex
    }
}
