/// Orchestrator placeholder.
public enum HeliosOrchestratorVersion { public static let value = "0.1.0" }
