import HeliosMedia
/// Synth placeholder.
public enum HeliosSynthVersion { public static let value = "0.1.0" }
