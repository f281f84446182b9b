import Foundation

/// A command-line option that can also come from the environment (`SPRECHSTUNDE_<NAME>`).
struct OptionSpec: Sendable {
    let name: String
    let help: String
    /// Takes no value (`--plain-http`); true when present.
    let isFlag: Bool
    let placeholder: String

    init(_ name: String, _ placeholder: String = "", help: String, flag: Bool = false) {
        self.name = name
        self.placeholder = placeholder
        self.help = help
        self.isFlag = flag
    }

    var environmentName: String { "SPRECHSTUNDE_" + name.uppercased().replacingOccurrences(of: "-", with: "_") }
}

/// A usage error: the message says what to do; exit status 64 (EX_USAGE).
struct UsageError: Error, CustomStringConvertible {
    let description: String
}

/// Parsed options of one command: flags win over environment variables, which win over the
/// defaults in code.
struct ParsedOptions {
    private var values: [String: String] = [:]
    /// Options whose value came from the environment, with the variable's name.
    private var fromEnvironment: [String: String] = [:]
    let command: String

    init(command: String, arguments: [String], specs: [OptionSpec], environment: [String: String]) throws {
        self.command = command
        for spec in specs {
            if let value = environment[spec.environmentName], !value.isEmpty {
                values[spec.name] = value
                fromEnvironment[spec.name] = spec.environmentName
            }
        }
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            guard argument.hasPrefix("--") else {
                throw UsageError(
                    description:
                        "unexpected argument '\(argument)' for '\(command)'; see 'sprechstunde \(command) --help'")
            }
            var name = String(argument.dropFirst(2))
            var inlineValue: String?
            if let equals = name.firstIndex(of: "=") {
                inlineValue = String(name[name.index(after: equals)...])
                name = String(name[..<equals])
            }
            guard let spec = specs.first(where: { $0.name == name }) else {
                let known = specs.map { "--" + $0.name }.joined(separator: ", ")
                throw UsageError(description: "unknown option '--\(name)' for '\(command)'; known options: \(known)")
            }
            fromEnvironment[name] = nil
            if spec.isFlag {
                values[name] = inlineValue ?? "true"
            } else if let inlineValue {
                values[name] = inlineValue
            } else {
                index += 1
                guard index < arguments.count else {
                    throw UsageError(description: "option '--\(name)' needs a value: --\(name) \(spec.placeholder)")
                }
                values[name] = arguments[index]
            }
            index += 1
        }
    }

    func string(_ name: String) -> String? { values[name] }

    /// How the user set `name`, for messages: the flag, or the environment variable that set it.
    func named(_ name: String) -> String {
        fromEnvironment[name].map { "\($0) (--\(name))" } ?? "--\(name)"
    }

    func flag(_ name: String) throws -> Bool {
        guard let value = values[name] else { return false }
        switch value.lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw UsageError(description: "\(named(name)) is a switch: give it without a value, or as true/false")
        }
    }

    func int(_ name: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let text = values[name] else { return nil }
        guard let value = Int(text), range.contains(value) else {
            throw UsageError(
                description:
                    "\(named(name)) must be a whole number from \(range.lowerBound) to \(range.upperBound), not '\(text)'"
            )
        }
        return value
    }

    func required(_ name: String) throws -> String {
        guard let value = values[name], !value.isEmpty else {
            throw UsageError(description: "'\(command)' needs --\(name); see 'sprechstunde \(command) --help'")
        }
        return value
    }
}

func helpText(command: String, summary: String, specs: [OptionSpec]) -> String {
    var lines = ["usage: sprechstunde \(command) [options]", "", summary, "", "options:"]
    for spec in specs {
        let left = "  --\(spec.name)\(spec.placeholder.isEmpty ? "" : " " + spec.placeholder)"
        lines.append(left.padding(toLength: max(left.count + 2, 30), withPad: " ", startingAt: 0) + spec.help)
        lines.append(String(repeating: " ", count: 30) + "env: \(spec.environmentName)")
    }
    lines.append("  --help                      show this help")
    return lines.joined(separator: "\n")
}
