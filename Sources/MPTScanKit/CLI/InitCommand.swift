import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `mptscan init`: a starter `.mptscan.json` and, when asked, a CI pipeline. The pipelines are the ones
/// docs/ci.md shows (a test checks that the document holds these exact texts, and CI runs their steps).
extension MPTScan {
    static let initSpec = CommandSpec(
        overview: "Write a starter .mptscan.json and, with --ci, a CI pipeline that runs mptscan.",
        usage: "mptscan init [--ci github|gitlab|jenkins] [--force] [<directory>]",
        arguments: [("<directory>", "Where to write. (default: .)")],
        options: [
            OptionSpec(long: "ci", valueName: "system", help: "Also write a pipeline: github (.github/workflows/mptscan.yml), gitlab (mptscan.gitlab-ci.yml, to include) or jenkins (Jenkinsfile.mptscan)."),
            OptionSpec(long: "force", help: "Overwrite files that exist."),
        ],
        discussion: """
        The configuration's settings are listed by 'mptscan help config' and in docs/CONFIG.md; the pipelines
        are explained in docs/ci.md.
        """)

    /// A GitHub Actions workflow using the composite action at the repository root (action.yml).
    static let githubWorkflow = """
        # mptscan: fail pushes and pull requests that leak a SoftwareOne Marketplace API token, and show the
        # findings in code scanning (SARIF). Pull requests scan only the commits they add.
        name: mptscan
        on:
          push:
          pull_request:
        permissions:
          contents: read
          security-events: write
        jobs:
          mptscan:
            runs-on: ubuntu-latest
            steps:
              - uses: actions/checkout@v4
                with:
                  fetch-depth: 0  # history scans need every commit
              - name: mptscan
                uses: OWNER/mptscan@v1  # this repository's action.yml
                with:
                  args: ${{ github.event_name == 'pull_request' && format('history --range {0}..{1}', github.event.pull_request.base.sha, github.event.pull_request.head.sha) || 'scan .' }}

        """

    /// A GitLab CI job: secret-detection report for the security dashboard, JUnit for the merge request.
    static let gitlabCI = """
        # mptscan: include this file from .gitlab-ci.yml (include: local: mptscan.gitlab-ci.yml).
        mptscan:
          stage: test
          image: swift:6.0
          variables:
            GIT_DEPTH: "0"  # history scans need every commit
          script:
            - apt-get update -qq && apt-get install -y -qq zlib1g-dev git >/dev/null
            - git clone --depth 1 https://github.com/OWNER/mptscan.git /tmp/mptscan-src
            - swift build -c release --package-path /tmp/mptscan-src
            - /tmp/mptscan-src/.build/release/mptscan scan . --report gitlab:gl-secret-detection-report.json --report junit:mptscan-junit.xml
          artifacts:
            when: always
            reports:
              secret_detection: gl-secret-detection-report.json
              junit: mptscan-junit.xml

        """

    /// A Jenkins pipeline stage publishing JUnit results.
    static let jenkinsfile = """
        // mptscan: a Jenkins declarative pipeline; findings appear as failed tests.
        pipeline {
          agent any
          stages {
            stage('mptscan') {
              steps {
                sh 'swift build -c release --package-path mptscan'
                sh 'mptscan/.build/release/mptscan scan . --report junit:mptscan-junit.xml'
              }
            }
          }
          post {
            always {
              junit allowEmptyResults: true, testResults: 'mptscan-junit.xml'
            }
          }
        }

        """

    static func runInit(_ args: [String], out: inout OutputStream) throws -> ExitCode {
        let parsed = try self.initSpec.parse(args)
        if parsed.wantsHelp { out.write(self.initSpec.helpText()); return .clean }
        guard parsed.positionals.count <= 1 else { throw UsageError("Unexpected argument '\(parsed.positionals[1])'") }
        let directory = parsed.positionals.first ?? "."
        var files: [(String, String)] = [(Configuration.fileName, Configuration.starter())]
        switch parsed.value("ci") {
        case nil: break
        case "github"?: files.append((".github/workflows/mptscan.yml", self.githubWorkflow))
        case "gitlab"?: files.append(("mptscan.gitlab-ci.yml", self.gitlabCI))
        case "jenkins"?: files.append(("Jenkinsfile.mptscan", self.jenkinsfile))
        case let other?: throw UsageError("--ci needs github, gitlab or jenkins, not '\(other)'")
        }
        let fm = FileManager.default
        // an existing configuration is kept (init --ci adds a pipeline to a configured repository); an existing
        // pipeline is an error unless --force
        if !parsed.has("force") && fm.fileExists(atPath: (directory as NSString).appendingPathComponent(Configuration.fileName)) {
            out.write("kept \((directory as NSString).appendingPathComponent(Configuration.fileName)) (exists)\n")
            files.removeFirst()
        }
        for (name, _) in files where fm.fileExists(atPath: (directory as NSString).appendingPathComponent(name)) && !parsed.has("force") {
            Self.stderr("mptscan: error: \((directory as NSString).appendingPathComponent(name)) exists (use --force to overwrite)\n")
            return .incomplete
        }
        for (name, text) in files {
            let path = (directory as NSString).appendingPathComponent(name)
            do {
                try fm.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            } catch {
                Self.stderr("mptscan: error: cannot write \(path): \(error.localizedDescription)\n")
                return .incomplete
            }
            out.write("wrote \(path)\n")
        }
        return .clean
    }
}
