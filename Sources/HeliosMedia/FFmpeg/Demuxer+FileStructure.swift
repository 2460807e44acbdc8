import CHeliosShims
import Glibc

/// What a file's own structure says before (or besides) libavformat: its first bytes, and where a container
/// without an index or a frame count can still tell that it was cut short.
extension Demuxer {
    /// Whether the file starts as an MP4/MOV file that libavformat's probe gives to its MOV demuxer with the
    /// highest score: an `ftyp` box of a brand other than JPEG 2000's, or a `moov` or `mdat` box.
    static func isPlainISOBMFF(_ path: String) -> Bool {
        guard let header = fileStart(path, bytes: 12) else { return false }
        let type = String(decoding: header[4..<8], as: UTF8.self), brand = String(decoding: header[8..<12], as: UTF8.self)
        return type == "moov" || type == "mdat" || (type == "ftyp" && brand != "jp2 " && brand != "jpx ")
    }

    /// For a RIFF file (AVI): the bytes its first RIFF chunk declares (header included) and the bytes the file
    /// holds; nil for other files.
    package static func riffSizes(_ path: String) -> (declared: Int64, actual: Int64)? {
        guard let header = fileStart(path, bytes: 12), header.starts(with: Array("RIFF".utf8)) else { return nil }
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        let size = (4..<8).reduce(Int64(0)) { $0 | Int64(header[$1]) << (8 * Int64($1 - 4)) }
        return (size + 8, Int64(info.st_size))
    }

    /// A frame of the Matroska file at `path` that libavformat skips without a word (an element a cluster cannot hold
    /// where a block was, a Block outside its BlockGroup), described for an error; nil when there is none to find.
    package static func matroskaLostFrame(_ path: String) -> String? {
        var found = helios_matroska_lost()
        guard helios_matroska_lost_frame(path, &found) == 1 else { return nil }
        let id = "ID 0x" + String(found.id, radix: 16, uppercase: true)
        let at = "the \(found.bytes)-byte element at byte \(found.offset)"
        switch found.kind {
        case 1: return "\(at) (\(id)) is a frame outside any BlockGroup, where no reader looks for one"
        case 3: return "the BlockGroup at byte \(found.offset) holds no single Block"
        default: return "\(at) has \(id), which cannot be where it is: a damaged block header"
        }
    }

    /// For an MPEG program stream: whether its last pack runs past the end of the file (a pack header or a PES packet
    /// whose length the file does not hold), read from the last pack start code in the file's final 64 KiB. nil when
    /// no pack start is found there or the bytes after it are not a pack.
    package static func programStreamCutShort(_ path: String) -> Bool? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return nil }
        let size = Int64(info.st_size), start = max(0, size - 65_536)
        var tail = [UInt8](repeating: 0, count: Int(size - start))
        guard pread(fd, &tail, tail.count, off_t(start)) == tail.count else { return nil }
        func isStart(_ i: Int, _ id: UInt8) -> Bool { tail[i] == 0 && tail[i + 1] == 0 && tail[i + 2] == 1 && tail[i + 3] == id }
        guard tail.count >= 4, var i = (0...(tail.count - 4)).last(where: { isStart($0, 0xBA) }) else { return nil }
        while i < tail.count {
            guard i + 4 <= tail.count else { return true }
            guard tail[i] == 0, tail[i + 1] == 0, tail[i + 2] == 1 else { return nil }
            switch tail[i + 3] {
            case 0xB9: return false  // the program end code
            case 0xBA:
                // MPEG-2: 14 bytes and the stuffing its last byte counts; MPEG-1: 12 bytes.
                guard i + 5 <= tail.count else { return true }
                if tail[i + 4] & 0xC0 == 0x40 {
                    guard i + 14 <= tail.count else { return true }
                    i += 14 + Int(tail[i + 13] & 0x07)
                } else if tail[i + 4] & 0xF0 == 0x20 {
                    i += 12
                } else { return nil }
            case 0xBB...0xFF:
                guard i + 6 <= tail.count else { return true }
                i += 6 + (Int(tail[i + 4]) << 8 | Int(tail[i + 5]))
            default: return nil
            }
        }
        return i > tail.count
    }

    /// The first `bytes` bytes of the file, or nil if it cannot be read or is shorter.
    fileprivate static func fileStart(_ path: String, bytes: Int) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var header = [UInt8](repeating: 0, count: bytes)
        return pread(fd, &header, bytes, 0) == bytes ? header : nil
    }

    /// Whether the file starts like an ISO BMFF file (MP4, MOV: a top-level box) or with an EBML header (Matroska,
    /// WebM), read from its first 8 bytes once.
    static func hasIndexableContainer(_ path: String) -> Bool {
        guard let header = fileStart(path, bytes: 8) else { return false }
        if header.starts(with: [0x1A, 0x45, 0xDF, 0xA3]) { return true }
        let type = String(decoding: header[4..<8], as: UTF8.self)
        return ["ftyp", "moov", "mdat", "free", "skip", "wide"].contains(type)
    }
}
