/// One option of a subcommand, declared once: the parser and the help text both come from it.
struct OptionSpec {
    var long: String
    var short: Character? = nil
    /// Name of the value in help (`<format>`); nil for a flag.
    var valueName: String? = nil
    var help: String
    var repeatable = false
}

/// A subcommand's surface: what the help prints and what the parser accepts.
struct CommandSpec {
    var overview: String
    var usage: String
    var arguments: [(String, String)] = []
    var options: [OptionSpec]
    var subcommands: [(String, String)] = []
    var discussion: String? = nil

    /// Help text in the swift-argument-parser layout: OVERVIEW, USAGE, ARGUMENTS, OPTIONS, SUBCOMMANDS.
    func helpText() -> String {
        var out = "OVERVIEW: \(self.overview)\n\nUSAGE: \(self.usage)\n"
        func row(_ left: String, _ right: String) -> String {
            let pad = 26
            if left.count + 2 >= pad { return "  \(left)\n" + String(repeating: " ", count: pad) + right + "\n" }
            return "  " + left + String(repeating: " ", count: pad - 2 - left.count) + right + "\n"
        }
        if !self.arguments.isEmpty {
            out += "\nARGUMENTS:\n"
            for (name, text) in self.arguments { out += row(name, text) }
        }
        out += "\nOPTIONS:\n"
        for option in self.options + [OptionSpec(long: "help", short: "h", help: "Show help information.")] {
            var left = option.short.map { "-\($0), --\(option.long)" } ?? "--\(option.long)"
            if let value = option.valueName { left += " <\(value)>" }
            out += row(left, option.help)
        }
        if !self.subcommands.isEmpty {
            out += "\nSUBCOMMANDS:\n"
            for (name, text) in self.subcommands { out += row(name, text) }
            out += "\n  See 'mptscan help <subcommand>' for detailed help.\n"
        }
        if let discussion = self.discussion { out += "\n" + discussion + "\n" }
        return out
    }
}

/// Parsed command line of one subcommand.
struct ParsedArguments {
    var values: [String: [String]] = [:]
    var flags: Set<String> = []
    var positionals: [String] = []
    var wantsHelp = false

    func value(_ long: String) -> String? { self.values[long]?.last }
    func all(_ long: String) -> [String] { self.values[long] ?? [] }
    func has(_ long: String) -> Bool { self.flags.contains(long) }
}

extension CommandSpec {
    /// Parses `args` (after the subcommand name). `--name=value`, `--name value`, `-x value`, `-xvalue` (a short
    /// option that takes a value, the value attached: `-j1`, as getopt reads it), `--` and `-` (a positional)
    /// are understood.
    /// - Throws: `UsageError` for an unknown option or a missing value.
    func parse(_ args: [String]) throws -> ParsedArguments {
        var parsed = ParsedArguments()
        var i = 0
        var onlyPositionals = false
        while i < args.count {
            let arg = args[i]
            i += 1
            if onlyPositionals || arg == "-" || !arg.hasPrefix("-") {
                parsed.positionals.append(arg)
                continue
            }
            if arg == "--" { onlyPositionals = true; continue }
            if arg == "-h" || arg == "--help" { parsed.wantsHelp = true; continue }
            var name = arg
            var inline: String? = nil
            if arg.hasPrefix("--"), let eq = arg.firstIndex(of: "=") {
                name = String(arg[..<eq])
                inline = String(arg[arg.index(after: eq)...])
            }
            let spec: OptionSpec?
            if name.hasPrefix("--") {
                spec = self.options.first { "--" + $0.long == name }
            } else if name.count == 2 {
                spec = self.options.first { $0.short.map { "-\($0)" } == name }
            } else if let attached = self.options.first(where: { $0.valueName != nil && $0.short.map { "-\($0)" } == String(name.prefix(2)) }) {
                // `-j1`: the value attached to a short option that takes one
                spec = attached
                inline = String(name.dropFirst(2))
                name = String(name.prefix(2))
            } else {
                spec = nil
            }
            guard let spec else { throw UsageError("Unknown option '\(name)'") }
            if spec.valueName != nil {
                let value: String
                if let inline {
                    value = inline
                } else {
                    guard i < args.count else { throw UsageError("Missing value for '\(name) <\(spec.valueName!)>'") }
                    value = args[i]
                    i += 1
                }
                if !spec.repeatable && parsed.values[spec.long] != nil {
                    throw UsageError("'--\(spec.long)' given more than once")
                }
                parsed.values[spec.long, default: []].append(value)
            } else {
                if inline != nil { throw UsageError("'--\(spec.long)' takes no value") }
                parsed.flags.insert(spec.long)
            }
        }
        return parsed
    }
}
