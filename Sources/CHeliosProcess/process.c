// The header holds everything (static inline); SwiftPM needs a source file.
