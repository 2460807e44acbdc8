// swift-tools-version: 6.1
import PackageDescription

// Release builds of `helios-stitch` and `helios` carry the Swift runtime and Foundation inside them instead of
// loading the shared libraries, and pack their relative relocations (RELR, glibc 2.36) instead of the 24-byte entries
// the loader reads at each start: `helios-stitch --version` starts in 33 ms instead of 39 and a stitch of 10,000
// inputs peaks 4.2 MB lower; a `helios` job peaks 6 MiB lower (68.8 instead of 75.0 MiB at 1,000 chunks) and starts
// in 35 ms instead of 44. lld links them (gold cannot pack relocations, and warns about glibc's mktemp, which
// FoundationEssentials references). The objects were compiled against the shared modules, whose autolink entries name
// only the top library, so the static archives below them are named here. Debug builds, which the tests link many
// times, stay dynamic, and so do `helios-worker` and `helios-synth`, which the Lambda package ships together: static,
// each would carry its own copy of the runtime and ICU's data (257 MB unpacked instead of 200 MiB; Lambda's limit is
// 250 MB).
//
// `-static-stdlib` also exports every symbol of our objects and packages from the executable (its `-export-dynamic`,
// for `dladdr`'s backtraces; the static archives are excluded anyway): 42,000 symbols in `helios`, 3.5 MB of symbol
// tables that nothing looks up, of which a job's pages hold 2.9 MB. `--no-export-dynamic` keeps them out: a
// one-chunk job peaks at 62.9 MiB instead of 65.7. Crash backtraces read the static symbol table, which stays.
//
// The test bundle links with the settings of the executables it depends on, and the toolchain has no static XCTest or
// swift-testing, so `make test-release` (the suite on optimized code) sets HELIOS_SHARED_SWIFT_RUNTIME to link all
// of it against the shared runtime.
let linksStatically = Context.environment["HELIOS_SHARED_SWIFT_RUNTIME"] == nil
let staticLinking = ["-static-stdlib", "-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs",
                     "-Xlinker", "--no-export-dynamic"]
let staticSwiftRuntime: [LinkerSetting] = !linksStatically ? [] : [
    .unsafeFlags(staticLinking + ["-l_FoundationCShims", "-l_FoundationCollections"],
                 .when(platforms: [.linux], configuration: .release)),
]
/// The same for executables that import Foundation (GRDB, AsyncHTTPClient) and FoundationXML (S3's answers).
let staticFoundation: [LinkerSetting] = !linksStatically ? [] : [
    .unsafeFlags(staticLinking + [
        "-lFoundationXML", "-l_CFXMLInterface", "-lxml2", "-lCoreFoundation", "-lFoundationInternationalization",
        "-l_FoundationICU", "-lFoundationEssentials", "-l_FoundationCShims", "-l_FoundationCollections",
    ], .when(platforms: [.linux], configuration: .release)),
]

/// Release builds of `helios` and `helios-stitch` put the code a typical run executes first in their text
/// (`Linker/PRODUCT.lds`, written by `make hot-text` from callgrind's record of a few runs). The kernel maps code 64 KiB
/// around each page first executed, and all of it counts as resident: a one-chunk `helios` job had 15.5 MiB of code
/// resident to run 1.3 MB of it, spread over most of the 27 MB; gathered, 6.0 MiB (the toolchain's archives hold some
/// code a whole file to a section), and the job peaks at 49.3 MiB instead of 59.2; `helios-stitch` of 10,000 one-frame
/// inputs at 46.5 MiB instead of 50.0. Each function of our modules has a section of its own
/// (`-function-sections`) so that the list can name it, private functions included, which have no symbol to order
/// by; `make build` compiles the packages' code the same way. SwiftPM does not track the scripts: after a new one,
/// delete the binary to relink it (`make hot-text` does).
let functionSections: [SwiftSetting] = [.unsafeFlags(["-Xfrontend", "-function-sections"], .when(configuration: .release))]
func hotText(_ product: String) -> [LinkerSetting] {
    guard linksStatically else { return [] }
    let script = Context.packageDirectory + "/Linker/\(product).lds"
    return [.unsafeFlags(["-Xlinker", "-T", "-Xlinker", script], .when(platforms: [.linux], configuration: .release))]
}

/// `helios-stitch` allocates with jemalloc (Debian's libjemalloc2). Each probe frees libavformat's contexts and buffers
/// between the few small results that live on; glibc's per-thread cache hands those results the holes the probe left,
/// so which pages stay resident depended on the lengths of the paths involved: 10,000 one-frame inputs peaked anywhere
/// from 51.7 to 64.9 MiB with the output's name the only change. jemalloc's size classes keep them apart: 52.9-53.7 MiB
/// for every name tried, and 8% faster. `helios` keeps glibc: a job's heap is what it holds, and jemalloc's arenas add
/// 1.5-3 MB. The test bundle links the executables' settings, so it allocates with jemalloc too (see CHeliosSynthHeap).
let stitchAllocator: [LinkerSetting] = [.linkedLibrary("jemalloc", .when(platforms: [.linux]))]

let package = Package(
    name: "Helios",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "HeliosMedia", targets: ["HeliosMedia"]),
        .library(name: "HeliosOrchestrator", targets: ["HeliosOrchestrator"]),
        .library(name: "HeliosStorage", targets: ["HeliosStorage"]),
        .library(name: "HeliosWorkers", targets: ["HeliosWorkers"]),
        .executable(name: "helios-stitch", targets: ["helios-stitch"]),
        .executable(name: "helios", targets: ["helios"]),
        .executable(name: "helios-synth", targets: ["helios-synth"]),
        .executable(name: "helios-worker", targets: ["helios-worker"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.100.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // FFmpeg's C libraries, found with pkg-config; apt names the Debian packages.
        .systemLibrary(
            name: "CFFmpeg",
            pkgConfig: "libavformat",
            providers: [.apt(["libavformat-dev", "libavcodec-dev", "libavutil-dev", "libswscale-dev"])]
        ),
        // Macros that Swift cannot import (AVERROR, AV_NOPTS_VALUE, ...) as static inline functions.
        .target(name: "CHeliosShims", dependencies: ["CFFmpeg"]),
        // Safe Swift wrappers over libavformat/libavcodec, probing, validation and the stitcher.
        .target(
            name: "HeliosMedia",
            dependencies: [
                "CFFmpeg", "CHeliosShims",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: functionSections
        ),
        // prctl(PR_SET_CHILD_SUBREAPER) for the orchestrator's process tracking (variadic in C, so not importable).
        .target(name: "CHeliosProcess"),
        // jemalloc's start-up configuration for processes that render in-process (see heap.c).
        .target(name: "CHeliosSynthHeap"),
        // Job specs, durable job state, the executor and worker adapters; chunk outputs fetched from stores.
        // Knows nothing of FFmpeg.
        .target(
            name: "HeliosOrchestrator",
            dependencies: [
                "CHeliosProcess", "HeliosStorage",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Subprocess", package: "swift-subprocess"),
            ],
            swiftSettings: functionSections
        ),
        // Artifact stores (local default, S3 opt-in), keys and asset bundles. Knows nothing of FFmpeg or jobs.
        .target(
            name: "HeliosStorage",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: functionSections
        ),
        // Workers: the chunk protocol every remote worker speaks, and the Lambda (and later Cloud Run) adapters with
        // their worker-side entry points. No FFmpeg.
        .target(
            name: "HeliosWorkers",
            dependencies: [
                "HeliosOrchestrator", "HeliosStorage",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ],
            swiftSettings: functionSections
        ),
        // Wires media into the orchestrator (in-process merge, output probing) and hosts the worker runtime that
        // remote workers run: fetch spec and assets, render, verify, upload.
        .target(
            name: "HeliosRuntime",
            dependencies: [
                "HeliosMedia", "HeliosOrchestrator", "HeliosStorage", "HeliosWorkers",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ],
            swiftSettings: functionSections
        ),
        // `helios-worker serve`: the chunk protocol over HTTP for Cloud Run (or any container host), on Hummingbird 2
        // with graceful shutdown through swift-service-lifecycle. The only target that links Hummingbird.
        .target(
            name: "HeliosWorkerServer",
            dependencies: [
                "HeliosRuntime", "HeliosWorkers",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ]
        ),
        // The deterministic synthetic renderer and verifier used by the E2E harness.
        .target(
            name: "HeliosSynth",
            dependencies: ["HeliosMedia", "CFFmpeg", "CHeliosShims", "CHeliosSynthHeap"]
        ),
        .executableTarget(
            name: "helios-stitch",
            dependencies: [
                "HeliosMedia",
                "CHeliosShims",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: functionSections,
            linkerSettings: staticSwiftRuntime + stitchAllocator + hotText("helios-stitch")
        ),
        .executableTarget(
            name: "helios",
            dependencies: [
                "CHeliosShims", "HeliosMedia", "HeliosOrchestrator", "HeliosStorage", "HeliosWorkers", "HeliosRuntime",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: functionSections,
            linkerSettings: staticFoundation + hotText("helios")
        ),
        .executableTarget(
            name: "helios-worker",
            dependencies: [
                "HeliosRuntime", "HeliosWorkers", "HeliosStorage", "HeliosWorkerServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "helios-synth",
            dependencies: [
                "HeliosSynth",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Benchmark-only driver of the S3 store (Benchmarks/s3.py), until `helios artifacts` covers it.
        .executableTarget(name: "helios-s3-bench", dependencies: ["HeliosStorage"]),
        // Fixture sets, the ffmpeg/ffprobe oracles and a process runner, shared by the test targets.
        .target(name: "HeliosTestSupport", path: "Tests/HeliosTestSupport", exclude: ["Peers"]),
        .testTarget(name: "HeliosMediaTests", dependencies: ["HeliosMedia", "HeliosTestSupport"]),
        .testTarget(name: "HeliosOrchestratorTests", dependencies: ["HeliosOrchestrator", "HeliosStorage"]),
        .testTarget(name: "HeliosStorageTests", dependencies: ["HeliosStorage", "HeliosTestSupport"], exclude: ["Vectors"]),
        .testTarget(
            name: "HeliosWorkersTests",
            dependencies: ["HeliosWorkers", "HeliosRuntime", "HeliosTestSupport", "helios-worker", "helios-synth", .product(name: "_CryptoExtras", package: "swift-crypto")],
            exclude: ["Vectors"]
        ),
        .testTarget(
            name: "HeliosWorkerServerTests",
            dependencies: [
                "HeliosWorkerServer", "HeliosWorkers", "HeliosRuntime", "HeliosOrchestrator", "HeliosStorage", "HeliosTestSupport",
                "helios-worker", "helios-synth", "helios",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]
        ),
        .testTarget(name: "HeliosSynthTests", dependencies: ["HeliosSynth"]),
        .testTarget(name: "HeliosCLITests", dependencies: ["helios-stitch", "helios", "HeliosMedia", "HeliosTestSupport"]),
        .testTarget(
            name: "HeliosE2ETests",
            dependencies: ["HeliosMedia", "HeliosOrchestrator", "HeliosRuntime", "HeliosSynth", "HeliosTestSupport", "helios-synth", "helios"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
