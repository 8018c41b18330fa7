#!/usr/bin/env python3
"""Checks the CI recipes: action.yml and every example in docs/ci.md are parsed, and their shell steps are run
against a fixture repository that leaks one synthetic token, so the recipes cannot rot.

Usage: scripts/check-ci-examples.py WORKDIR   (needs PyYAML: run it with the venv .ci/run creates)

- action.yml (composite): each `run:` step is executed as GitHub would (bash, `${{ inputs.* }}` from the
  defaults, GITHUB_ACTION_PATH = a clone of this repository's HEAD, RUNNER_TEMP, GITHUB_OUTPUT); `uses:` steps
  are stood in for (the cache misses; the SARIF upload checks that the file is SARIF with results). The scan
  must report exit code 1 and the last step must fail.
- docs/ci.md: every ```yaml block parses; the GitHub workflow uses the action with fetch-depth 0; the GitLab
  job's script runs (mptscan cloned from this repository instead of OWNER's) and writes both reports; the
  Jenkinsfile's `sh` steps run and write the JUnit report; the pre-commit example names hooks that
  .pre-commit-hooks.yaml defines.
- `mptscan init --ci …` writes exactly the documented files.
"""
import json, os, pathlib, re, shutil, subprocess, sys
import xml.etree.ElementTree as ET

import yaml

root = pathlib.Path(__file__).resolve().parent.parent
work = pathlib.Path(sys.argv[1]).resolve()
sys.path.insert(0, str(root / "scripts"))
from synthetic import synthetic_token  # noqa: E402

shutil.rmtree(work, ignore_errors=True)
work.mkdir(parents=True)
problems = []


def check(condition, message):
    if not condition:
        problems.append(message)
        print("check-ci-examples: FAIL:", message, file=sys.stderr)


def run(cmd, cwd, env=None, shell=True):
    print(f"check-ci-examples: $ {cmd if isinstance(cmd, str) else ' '.join(cmd)}", file=sys.stderr)
    return subprocess.run(cmd, cwd=cwd, env=env, shell=shell, executable="/bin/bash" if shell else None,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


# the fixture repository: one synthetic leak, committed
repo = work / "repo"
repo.mkdir()
(repo / "src").mkdir()
(repo / "src" / "api.ts").write_text('export const TOKEN = "%s";\n' % synthetic_token(1990))
for args in (["init", "-q"], ["add", "-A"],
             ["-c", "user.name=CI", "-c", "user.email=ci@example.test", "commit", "-q", "-m", "leak"]):
    subprocess.run(["git", *args], cwd=repo, check=True)

# mptscan as a user gets it: a clone of this repository's HEAD
source = work / "mptscan-src"
subprocess.run(["git", "clone", "-q", str(root), str(source)], check=True)

# --- action.yml -------------------------------------------------------------------------------------------
action = yaml.safe_load((root / "action.yml").read_text())
check(action["runs"]["using"] == "composite", "action.yml is a composite action")
inputs = {k: str(v.get("default", "")) for k, v in action["inputs"].items()}
temp = work / "runner-temp"
temp.mkdir()
output_file = work / "github-output"
output_file.write_text("")
outputs = {"cache": {"cache-hit": "false"}}


def expand(text, step_outputs):
    def one(m):
        expr = m.group(1).strip()
        if expr.startswith("inputs."):
            return inputs[expr[len("inputs."):]]
        if expr.startswith("steps."):
            _, step, _, key = expr.split(".", 3)
            return step_outputs.get(step, {}).get(key, "")
        if expr == "runner.temp":
            return str(temp)
        return ""
    return re.sub(r"\$\{\{(.*?)\}\}", one, text)


def condition_holds(cond, step_outputs):
    if cond.startswith("steps.cache.outputs.cache-hit"):
        return step_outputs["cache"]["cache-hit"] != "true"
    if "inputs.upload-sarif" in cond:
        return inputs["upload-sarif"] == "true"
    return True


last_status = 0
for step in action["runs"]["steps"]:
    if "if" in step and not condition_holds(step["if"], outputs):
        continue
    if "uses" in step:
        if step["uses"].startswith("github/codeql-action/upload-sarif"):
            sarif = repo / expand(step["with"]["sarif_file"], outputs)
            data = json.loads(sarif.read_text())
            check(data.get("version") == "2.1.0" and data["runs"][0]["results"], "the action's SARIF has results to upload")
        continue
    env = dict(os.environ, GITHUB_ACTION_PATH=str(source), RUNNER_TEMP=str(temp), GITHUB_OUTPUT=str(output_file))
    for k, v in (step.get("env") or {}).items():
        env[k] = expand(str(v), outputs)
    result = run(expand(step["run"], outputs), cwd=repo, env=env)
    last_status = result.returncode
    if step.get("id"):
        outputs[step["id"]] = dict(line.split("=", 1) for line in output_file.read_text().splitlines() if "=" in line)
    if result.returncode != 0 and step is not action["runs"]["steps"][-1]:
        check(False, f"action step '{step.get('name')}' failed ({result.returncode}): {result.stdout[-2000:]}")
        break
check(outputs.get("scan", {}).get("exit-code") == "1", f"the action's scan step reports exit code 1, got {outputs.get('scan')}")
check(last_status == 1, f"the action's last step fails the job on leaks (exit {last_status})")
binary = temp / "mptscan-bin" / "mptscan"
check(binary.exists(), "the action built the binary")

# --- docs/ci.md ------------------------------------------------------------------------------------------
doc = (root / "docs" / "ci.md").read_text()
blocks = re.findall(r"```(yaml|groovy)\n(.*?)```", doc, re.S)
yamls = [yaml.safe_load(b) for kind, b in blocks if kind == "yaml"]
check(len(yamls) == 3, f"docs/ci.md has the GitHub, GitLab and pre-commit YAML examples ({len(yamls)} found)")
workflow, gitlab, precommit = yamls[0], yamls[1], yamls[2]
steps = workflow["jobs"]["mptscan"]["steps"]
check(steps[0].get("with", {}).get("fetch-depth") == 0, "the workflow checks out with fetch-depth 0")
check(steps[1]["uses"].endswith("/mptscan@v1"), "the workflow uses the action")
check("security-events" in workflow.get("permissions", {}), "the workflow may upload SARIF")

job = gitlab["mptscan"]
check(job["artifacts"]["reports"]["secret_detection"] == "gl-secret-detection-report.json", "GitLab job publishes the secret detection report")
for line in job["script"]:
    line = line.replace("https://github.com/OWNER/mptscan.git", str(root)).replace("/tmp/mptscan-src", str(work / "gitlab-mptscan"))
    result = run(line, cwd=repo)
    if "mptscan scan" in line:
        check(result.returncode == 1, f"the GitLab job's scan exits 1 on the leak, got {result.returncode}: {result.stdout[-800:]}")
    else:
        check(result.returncode == 0, f"GitLab script line failed ({result.returncode}): {line}\n{result.stdout[-1500:]}")
report = json.loads((repo / "gl-secret-detection-report.json").read_text())
check(report["scan"]["type"] == "secret_detection" and len(report["vulnerabilities"]) == 1, "the GitLab report holds the one leak")
check(len(ET.parse(repo / "mptscan-junit.xml").getroot().findall(".//failure")) == 1, "the JUnit report has one failure")

jenkins = next(b for kind, b in blocks if kind == "groovy")
(repo / "mptscan").symlink_to(work / "gitlab-mptscan")
(repo / "mptscan-junit.xml").unlink()
for command in re.findall(r"sh '([^']*)'", jenkins):
    result = run(command, cwd=repo)
    expected = 1 if "mptscan scan" in command else 0
    check(result.returncode == expected, f"Jenkins step '{command}' exits {result.returncode}, expected {expected}: {result.stdout[-800:]}")
check((repo / "mptscan-junit.xml").exists(), "the Jenkins pipeline writes the JUnit report")

hooks = {h["id"] for h in yaml.safe_load((root / ".pre-commit-hooks.yaml").read_text())}
used = {h["id"] for r in precommit["repos"] for h in r["hooks"]}
check(used <= hooks, f"the pre-commit example names defined hooks ({used - hooks} unknown)")

# --- docs/SWEEP.md: the job-engine examples parse; a sharded sweep merges to the unsharded one ----------------
sweep_doc = (root / "docs" / "SWEEP.md").read_text()
sweep_yaml = [list(yaml.safe_load_all(b)) for b in re.findall(r"```yaml\n(.*?)```", sweep_doc, re.S)]
check(len(sweep_yaml) == 2, f"docs/SWEEP.md has the GitHub and Kubernetes examples ({len(sweep_yaml)} found)")
if len(sweep_yaml) == 2:
    gh_jobs = sweep_yaml[0][0]["jobs"]
    check(any("matrix" in (j.get("strategy") or {}) for j in gh_jobs.values()), "the GitHub sweep example uses a matrix")
    k8s = [d for d in sweep_yaml[1] if d]
    check(any(d.get("kind") == "Job" and d["spec"].get("completionMode") == "Indexed" for d in k8s), "the Kubernetes example is an Indexed Job")
(work / "repos.txt").write_text(f"{repo}\n{source}\n")
whole = run([str(binary), "sweep", "--repos", "repos.txt", "-o", "all.jsonl"], cwd=work, shell=False)
check(whole.returncode == 1, f"sweep of the fixture repositories exits 1 on the leak, got {whole.returncode}: {whole.stdout[-600:]}")
for k in range(2):
    run([str(binary), "sweep", "--repos", "repos.txt", "--shard", f"{k}/2", "-o", f"shard-{k}.jsonl"], cwd=work, shell=False)
run([str(binary), "merge", "shard-0.jsonl", "shard-1.jsonl", "-o", "merged.jsonl"], cwd=work, shell=False)
run([str(binary), "merge", "all.jsonl", "-o", "all-merged.jsonl"], cwd=work, shell=False)
check((work / "merged.jsonl").read_text() == (work / "all-merged.jsonl").read_text(), "shards 0/2 and 1/2 merged equal the whole sweep")

# --- mptscan init writes the documented files -------------------------------------------------------------
for system, name in (("github", ".github/workflows/mptscan.yml"), ("gitlab", "mptscan.gitlab-ci.yml"), ("jenkins", "Jenkinsfile.mptscan")):
    target = work / ("init-" + system)
    target.mkdir()
    result = run([str(binary), "init", "--ci", system, str(target)], cwd=work, shell=False)
    check(result.returncode == 0, f"mptscan init --ci {system}: {result.stdout}")
    written = (target / name).read_text()
    check(written in doc, f"mptscan init --ci {system} writes what docs/ci.md shows")
    check(json.loads((target / ".mptscan.json").read_text())["version"] == 1, "init writes a configuration")

if problems:
    print(f"check-ci-examples: {len(problems)} problem(s)", file=sys.stderr)
    sys.exit(1)
print("check-ci-examples: action.yml, docs/ci.md (GitHub, GitLab, Jenkins, pre-commit), docs/SWEEP.md and mptscan init check out")
