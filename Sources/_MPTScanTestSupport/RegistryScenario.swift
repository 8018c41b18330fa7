import Foundation
import MPTScanKit

/// A registry of synthetic tokens for the emulator and a file that leaks some of them, with the verdict each
/// leak must get (the same shape as scripts/registry-scenario.py): 200 tokens (Active, Disabled, Deleted) in
/// four accounts, an admin credential allowed in the first three, and 20 leaks: 8 live, 3 disabled, 2
/// deleted, 3 real ids beside fake secrets (mismatch), 2 unknown ids, 2 in the fourth account (forbidden).
public struct RegistryScenario: Sendable {
    public static let accounts = [("ACC-1000-0001", "Example Client", "Client"), ("ACC-1000-0002", "Example Vendor", "Vendor"),
                                  ("ACC-1000-0003", "Example Ops", "Operations"), ("ACC-1000-0004", "Locked Away Ltd", "Client")]
    /// Emulator state: the tokens and the admin credential.
    public var state: RegistryEmulator.State
    /// The admin bearer (synthetic), for `MPT_REGISTRY_TOKEN`.
    public var adminBearer: String
    /// The leaking file's text (TypeScript constants, one leak per line).
    public var leaks: String
    /// Token id → the verdict its leak must get.
    public var expected: [String: Verdict]
    /// Token id → the full found token of each leak (to check nothing prints it).
    public var leaked: [String: String]

    public static func tokenID(_ n: Int) -> String {
        String(format: "TKN-%04d-%04d", 1500 + n / 100, n % 100 + 1000)
    }

    public init() {
        var tokens: [RegistryEmulator.Token] = []
        for n in 0..<200 {
            let status: APITokenRecord.Status = n % 20 < 12 ? .active : n % 20 < 17 ? .disabled : .deleted
            let account = Self.accounts[n % 4]
            let record = APITokenRecord(id: Self.tokenID(n), status: status, name: "token \(n)", lastAccessAt: "2026-11-0\(1 + n % 9)T10:00:00.000Z",
                                        token: status == .deleted ? nil : "idt:\(Self.tokenID(n)):\(SyntheticTokens.secret(seed: 1500 + n))",
                                        account: APITokenRecord.Account(id: account.0, name: account.1, type: account.2, status: "Active"))
            tokens.append(RegistryEmulator.Token(record))
        }
        self.adminBearer = "admin-" + SyntheticTokens.secret(seed: 1999, length: 40)
        let admin = RegistryEmulator.Credential(name: "admin", bearer: self.adminBearer, permissions: [.accessManagement, .readValue],
                                                accounts: Self.accounts.prefix(3).map(\.0))
        self.state = RegistryEmulator.State(tokens: tokens, credentials: [admin])

        func by(_ status: APITokenRecord.Status, _ account: Int) -> [Int] {
            (0..<200).filter { tokens[$0].record.status == status && $0 % 4 == account }
        }
        var lines: [String] = [], expected: [String: Verdict] = [:], leaked: [String: String] = [:]
        func leak(_ n: Int, secretSeed: Int? = nil, _ verdict: Verdict) {
            let token = "idt:\(Self.tokenID(n)):\(SyntheticTokens.secret(seed: secretSeed ?? 1500 + n))"
            lines.append("export const T\(lines.count) = \"\(token)\";")
            expected[Self.tokenID(n)] = verdict
            leaked[Self.tokenID(n)] = token
        }
        for n in Array(by(.active, 0).prefix(4)) + by(.active, 1).prefix(2) + by(.active, 2).prefix(2) { leak(n, .live) }
        for n in Array(by(.disabled, 0).prefix(2)) + by(.disabled, 2).prefix(1) { leak(n, .disabled) }
        for n in by(.deleted, 1).prefix(2) { leak(n, .deleted) }
        for n in Array(by(.active, 0)[10..<12]) + by(.active, 2)[10..<11] { leak(n, secretSeed: 1900 + n, .mismatch) }
        for k in 0..<2 {
            let id = String(format: "TKN-9%03d-0042", k)
            let token = "idt:\(id):\(SyntheticTokens.secret(seed: 1950 + k))"
            lines.append("export const U\(k) = \"\(token)\";")
            expected[id] = .unknown
            leaked[id] = token
        }
        for n in by(.active, 3).prefix(2) { leak(n, .forbidden) }
        self.leaks = lines.joined(separator: "\n") + "\n"
        self.expected = expected
        self.leaked = leaked
    }
}
