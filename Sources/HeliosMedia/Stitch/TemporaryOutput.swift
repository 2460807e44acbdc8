import CHeliosShims
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// The file a stitch writes before it becomes the output.
///
/// Where the filesystem supports it (Linux `O_TMPFILE`: ext4, xfs, btrfs, tmpfs) the file has no name until it is
/// complete: the muxer writes through `/proc/self/fd/N`, and `commit` links it beside the output and renames it
/// into place, so a stitch killed by SIGKILL or a power cut leaves nothing behind. Elsewhere it is a hidden file
/// beside the output whose name carries the writer's pid and host, and every stitch into that output first removes
/// the temp files of this host's writers that no longer run.
final class TemporaryOutput {
    /// The output's final path.
    let outputPath: String
    /// The path libavformat opens (for reading too: MP4's faststart pass reads the file back).
    let muxerPath: String
    /// The open unnamed file, or -1 for a named temp file.
    private let descriptor: Int32
    /// The named temp file, when there is one (from the start, or once `commit` linked the unnamed file).
    private var namedPath: String?
    private var isOpen: Bool

    /// Creates the temp file in the output's directory; unnamed unless `allowUnnamed` is false (tests of the
    /// fallback) or the filesystem cannot.
    init(outputPath: String, allowUnnamed: Bool = true) {
        self.outputPath = outputPath
        let url = URL(fileURLWithPath: outputPath)
        Self.removeStale(for: url)
        let fd = allowUnnamed ? helios_open_tmpfile(url.deletingLastPathComponent().path, 0o666) : -1
        isOpen = fd >= 0
        if fd >= 0 {
            descriptor = fd
            muxerPath = "/proc/self/fd/\(fd)"
        } else {
            descriptor = -1
            let name = Self.tempName(for: url)
            muxerPath = url.deletingLastPathComponent().appendingPathComponent(name).path
            namedPath = muxerPath
        }
    }

    deinit { discard() }

    /// Whether the file has no name (the `O_TMPFILE` path).
    var isUnnamed: Bool { descriptor >= 0 }

    /// Starts writing back what was written so far, without waiting: the final fsync of a file written over a long
    /// job then waits only for the tail (an incremental stitch calls this after each append). Best effort.
    func startWriteback() {
        let fd = descriptor >= 0 ? descriptor : open(muxerPath, O_RDONLY)
        guard fd >= 0 else { return }
        _ = helios_start_writeback(fd)
        if descriptor < 0 { close(fd) }
    }

    /// fsyncs the file, gives it its final name (link and rename) and fsyncs the directory, so a crash leaves
    /// either the old state or the whole new file. Cancellation is honoured until the rename. With `sync` false
    /// (scratch outputs) both fsyncs are skipped: other processes still see the old state or the whole file, but
    /// a power cut may leave the new name on a file whose data never reached the disk.
    func commit(cancellation: CancellationFlag?, sync: Bool = true) throws(StitchError) {
        if sync {
            let fd = descriptor >= 0 ? descriptor : open(muxerPath, O_RDONLY)
            guard fd >= 0 else { throw failure("cannot reopen temp file") }
            let synced = fsync(fd)
            if descriptor < 0 { close(fd) }
            guard synced == 0 else { throw failure("fsync failed") }
        }
        if cancellation.isCancelled { throw .cancelled }
        let url = URL(fileURLWithPath: outputPath)
        if descriptor >= 0 {
            let name = url.deletingLastPathComponent().appendingPathComponent(Self.tempName(for: url)).path
            guard linkat(AT_FDCWD, muxerPath, AT_FDCWD, name, AT_SYMLINK_FOLLOW) == 0 else { throw failure("linking the temp file failed") }
            namedPath = name
        }
        if cancellation.isCancelled { throw .cancelled }
        guard let named = namedPath, rename(named, outputPath) == 0 else { throw failure("rename failed") }
        namedPath = nil
        let directory = sync ? open(url.deletingLastPathComponent().path, O_RDONLY) : -1
        if directory >= 0 {
            fsync(directory)
            close(directory)
        }
        discard()
    }

    /// Removes whatever is not committed (idempotent).
    func discard() {
        if let namedPath { unlink(namedPath) }
        namedPath = nil
        if isOpen {
            close(descriptor)
            isOpen = false
        }
    }

    private func failure(_ what: String) -> StitchError {
        .outputFailed(path: outputPath, reason: "\(what): \(String(cString: strerror(errno)))")
    }

    /// `.NAME.helios-PID-RANDOM@HOST.tmp.EXT`: hidden, tied to its writer (a pid means nothing on another host
    /// sharing the directory), and keeping the extension (some muxers check it).
    static func tempName(for output: URL, host: String = TemporaryOutput.host) -> String {
        "\(prefix(for: output))\(getpid())-\(UInt32.random(in: .min ... .max))@\(host).tmp.\(output.pathExtension)"
    }

    static func prefix(for output: URL) -> String { ".\(output.deletingPathExtension().lastPathComponent).helios-" }

    /// This machine's host name (`localhost` when it has none).
    static var host: String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "localhost" : name
    }

    /// The writer (pid and host) in a temp file name of `output`, or nil when the name is not one.
    static func writer(ofTempName name: String, for output: URL) -> (pid: Int32, host: String)? {
        writer(ofTempName: name, prefix: prefix(for: output), suffix: ".tmp.\(output.pathExtension)")
    }

    /// `writer(ofTempName:for:)` with the output's temp name prefix and suffix worked out once for a directory's names.
    private static func writer(ofTempName name: String, prefix: String, suffix: String) -> (pid: Int32, host: String)? {
        guard name.hasPrefix(prefix), name.hasSuffix(suffix) else { return nil }
        let middle = name.dropFirst(prefix.count).dropLast(suffix.count)
        guard let at = middle.firstIndex(of: "@") else { return nil }
        let ids = middle[..<at], host = String(middle[middle.index(after: at)...])
        guard !host.isEmpty, let dash = ids.firstIndex(of: "-"), UInt32(ids[ids.index(after: dash)...]) != nil,
              let pid = Int32(ids[..<dash]) else { return nil }
        return (pid, host)
    }

    /// Removes temp files of `output` left by writers of this host that no longer run (killed before they could
    /// clean up). Another host's temp files are left alone: its pids cannot be checked from here.
    static func removeStale(for output: URL) {
        let directory = output.deletingLastPathComponent()
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { return }
        let here = host, prefix = prefix(for: output), suffix = ".tmp.\(output.pathExtension)"
        for name in names where name.first == "." {
            guard let writer = writer(ofTempName: name, prefix: prefix, suffix: suffix), writer.host == here,
                  writer.pid > 0, writer.pid != getpid() else { continue }
            if kill(writer.pid, 0) != 0 && errno == ESRCH {
                unlink(directory.appendingPathComponent(name).path)
            }
        }
    }
}
