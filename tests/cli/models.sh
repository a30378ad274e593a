#!/usr/bin/env bash
# Governance through the real binary: review, promote (gates stored with the
# run, refusals audited, overrides recorded), rollback as a stack, canary
# percentages, lineage, export/import of artifact files (a flipped byte or a
# truncation refused), Ed25519 keys, signing and trust, two promotions racing
# for one alias, a promotion killed inside its transaction, and the help.
# Expected values come from independent sources: AUC gains from the two runs'
# own `runs show` metrics, artifact identities from b2sum of the exported file,
# the dataset hash from `data show`, the database integrity from Python's sqlite3.
. "$(dirname "$0")/lib/common.bash"
SYNTH=${CAIRN_SYNTH:?}
"$CAIRN" init >/dev/null

# jrun CMD...: like run, and checks that stdout is strict JSON (no NaN or
# Infinity, which no JSON parser has to accept). A command that breaks this is
# noted in $T/nonstrict and reported once per command at the end (jrun also
# runs inside $(...)); so that the checks after it still run, a bare nan/inf
# value is then read as null.
jrun() {
  run "$@"
  [ -n "$OUT" ] || return 0
  local fixed
  if ! fixed=$(printf '%s' "$OUT" | $PY -c '
import json, re, sys
text = sys.stdin.read()
def no(x): raise ValueError(x)
try:
    json.loads(text, parse_constant=no)
except ValueError:
    sys.stdout.write(re.sub(r"(?<=[:,\[])-?(nan|inf)(?=[,\]}])", "null", text))
    sys.exit(1)'); then
    local a skip=0 words=()
    for a in "$@"; do
      if [ $skip = 1 ]; then skip=0; continue; fi
      case $a in "$CAIRN"|--json) ;; --home) skip=1 ;; -*|*/*|r-*) break ;; *) words+=("$a") ;; esac
    done
    echo "${words[*]}: $(printf '%s' "$OUT" | grep -Eo '.{30}[:,[]-?(nan|inf)[],}]' | head -1)" >> "$T/nonstrict"
    OUT=$fixed
  fi
}
report_nonstrict() {
  [ -f "$T/nonstrict" ] || return 0
  local line
  while IFS= read -r line; do fail "not strict JSON: cairn --json $line"; done \
    < <(sort -u -t: -k1,1 "$T/nonstrict")
}
integrity() { # integrity DB: PRAGMA integrity_check through Python's sqlite3
  $PY -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("PRAGMA integrity_check").fetchone()[0])' "$1"
}
alias_of() { # alias_of MODEL ALIAS [HOME]: the version the alias holds, or "none"
  jrun "$CAIRN" --home "${3:-$CAIRN_HOME}" --json models show "$1"
  json "([a['version'] for a in j['aliases'] if a['alias'] == '$2'] or ['none'])[0]"
}
n_versions() { jrun "$CAIRN" --home "${2:-$CAIRN_HOME}" --json models show "$1"; json 'len(j["versions"])'; }
n_history() { jrun "$CAIRN" --json models history "$1"; json 'len(j["history"])'; }
b2() { b2sum -l 256 "$1" | cut -d' ' -f1; }

"$SYNTH" churn --rows 4000 --seed 7 -o "$T/churn.csv" >/dev/null
"$CAIRN" data add "$T/churn.csv" --name churn >/dev/null
run "$CAIRN" contract infer churn --label churned --entity customer_id --time signup_time --save -o "$T/contract.yaml"
expect_rc 0 "contract infer --save"
jrun "$CAIRN" --json data show churn; DATA_HASH=$(json 'j["hash"]')

GATES='gates:
  auc: {min: 0.6}
  auc_vs_baseline: {min_delta: 0.02}
  auc_vs_production: {min_delta: -0.005}
  slice_auc_drop: {max: 0.05}'
spec() { # spec FILE MODEL [GATES]
  cat > "$1" <<EOF
name: churn
data: churn
label: churned
positive: "Yes"
entity: customer_id
time: signup_time
model: $2
evaluation: {slices: [contract, plan], bootstrap: 200}
${3-}
EOF
}
spec "$T/good.yaml" "{type: gbdt, rounds: 60, max_depth: 4}" "$GATES"
spec "$T/weak.yaml" "{type: gbdt, rounds: 2, max_depth: 1}" "$GATES"
train() { # train SPEC [ARGS...]: sets ID
  local s=$1; shift
  jrun "$CAIRN" --json train "$s" "$@"; expect_rc 0 "train $(basename "$s")"
  ID=$(json 'j["id"]' 2>/dev/null)
}
train "$T/good.yaml"; G=$ID
train "$T/weak.yaml"; W=$ID
jrun "$CAIRN" --json runs show "$G"; SG=$OUT
jrun "$CAIRN" --json runs show "$W"; SW=$OUT
metric() { printf '%s' "$1" | $PY -c "import json,sys; print(repr([m['estimate'] for m in json.load(sys.stdin)['metrics'] if m['name'] == '$2'][0]))"; }
AUC_G=$(metric "$SG" auc); AUC_W=$(metric "$SW" auc)

# ---- 1. first promotion -------------------------------------------------------------------------
run "$CAIRN" models ls; expect_rc 0 "models ls on an empty registry"
run "$CAIRN" models show churn; expect_rc 3 "models show of an unknown model"
CAIRN_USER=alice jrun "$CAIRN" --json promote "$G" --model churn --reason "first release"
expect_rc 0 "first promotion"
expect_eq "true 1 0 production" "$(json '"%s %d %d %s" % (str(j["promoted"]).lower(), j["version"], j["from_version"], j["alias"])')" "promote JSON"
ART1=$(json 'j["artifact"]')
expect_eq 1 "$(alias_of churn production)" "production = 1"
jrun "$CAIRN" --json models show churn; expect_rc 0 "models show --json"
SHOW=$OUT
jrun "$CAIRN" --json models ls; expect_rc 0 "models ls --json"
agree=$(printf '%s\n%s' "$OUT" "$SHOW" | $PY -c "
import json, sys
ls, show = (json.loads(x) for x in sys.stdin.read().split('\n', 1))
m = [x for x in ls['models'] if x['name'] == 'churn']
bad = []
if len(ls['models']) != 1 or len(m) != 1: bad.append('models %r' % [x['name'] for x in ls['models']])
else:
    m = m[0]
    if m['versions'] != len(show['versions']): bad.append('version count')
    if m['aliases'] != {a['alias']: a['version'] for a in show['aliases']}: bad.append('aliases')
    if m['latest'] != show['versions'][-1]: bad.append('latest')
print('ok' if not bad else ','.join(bad))")
expect_eq ok "$agree" "models ls and show agree"
expect_eq "1 $G run $ART1 gbdt binary" "$(OUT=$SHOW json '" ".join(str(x) for x in (len(j["versions"]), j["versions"][0]["run"], j["versions"][0]["source"], j["versions"][0]["artifact"], j["versions"][0]["model_type"], j["versions"][0]["task"]))')" "version 1 fields"
expect_eq True "$(OUT=$SHOW json "abs(j['versions'][0]['metrics']['auc']['estimate'] - $AUC_G) < 1e-12")" "version metrics are the run's"
jrun "$CAIRN" --json models history churn; expect_rc 0 "history --json"
expect_eq "1 promote alice production None 1 $G first release" \
  "$(json '" ".join(str(x) for x in [len(j["history"])] + [j["history"][0][k] for k in ("action", "user", "alias", "from_version", "to_version", "run", "reason")])')" "one promote row"
expect_eq "APPROVE WITH WARNINGS" "$(json 'j["history"][0]["verdict"]')" "verdict recorded"
expect_eq "pass pass n/a n/a" "$(json '" ".join({g["metric"]: g["status"] for g in j["history"][0]["gates"]}[m] for m in ("auc", "auc_vs_baseline", "auc_vs_production", "slice_auc_drop"))')" "gates recorded, vs production n/a"
expect_eq "$AUC_G" "$(json 'repr([g["value"] for g in j["history"][0]["gates"] if g["metric"] == "auc"][0])')" "auc gate value is the run's auc"
run "$CAIRN" models history churn; expect_rc 0 "history text"
expect_match 'promote +production +unset -> 1 .*first release' "$OUT" "history text row"
run "$CAIRN" models ls; expect_match '^churn +1 +1 +production=1' "$OUT" "ls text row"

# ---- 2. the weak run is blocked ----------------------------------------------------------------
run "$CAIRN" review "$W"; expect_rc 1 "review of the weak run exits 1"
expect_match '^Decision: BLOCK' "$OUT" "review says BLOCK"
expect_match 'auc_vs_production +min_delta +-0\.005 .* fail' "$OUT" "review gate table"
jrun "$CAIRN" --json review "$W"; expect_rc 1 "review --json exits 1"
expect_eq "BLOCK 1" "$(json 'j["decision"], j["production"]["version"]' | tr -d "(),'")" "review JSON decision and production version"
# The gains over production, recomputed from the two runs' own test metrics (same
# split, so production scored on this run's test part is the good run's eval).
gates_check=$(printf '%s\n%s\n%s' "$OUT" "$SG" "$SW" | $PY -c "
import json, sys
rv, g, w = (json.loads(x) for x in sys.stdin.read().split('\n'))
auc = lambda r: [m['estimate'] for m in r['metrics'] if m['name'] == 'auc'][0]
gates = {x['metric']: x for x in rv['gates']}
bad = []
d = auc(w) - auc(g)
if abs(gates['auc_vs_production']['value'] - d) > 1e-9 or gates['auc_vs_production']['status'] != 'fail':
    bad.append('vs production %r, wanted %r fail' % (gates['auc_vs_production'], d))
sl = lambda r: {(s['column'], s['value']): s for s in r['eval']['model']['slices']}
gs, ws = sl(g), sl(w)
drop = max([0.0] + [gs[k]['metrics']['auc']['estimate'] - ws[k]['metrics']['auc']['estimate']
                    for k in gs if not gs[k]['small']])   # the evaluation's own small flag
if abs(gates['slice_auc_drop']['value'] - drop) > 1e-9 or gates['slice_auc_drop']['status'] != ('fail' if drop > 0.05 else 'pass'):
    bad.append('slice drop %r, wanted %r' % (gates['slice_auc_drop'], drop))
if gates['auc']['status'] != 'pass': bad.append('auc gate')
print('ok' if not bad else '; '.join(bad))")
expect_eq ok "$gates_check" "gate values equal gains computed from the runs' metrics"
run "$CAIRN" promote "$W" --model churn; expect_rc 1 "promotion of the weak run refused"
expect_match 'promotion refused' "$ERR" "refusal headline"
expect_match '  - gate auc_vs_production min_delta -0\.005: -0\.0[0-9]+ \(fail\)' "$ERR" "the failing vs-production gate on stderr"
expect_match '  - review decision: BLOCK' "$ERR" "BLOCK on stderr"
expect_eq "1 1" "$(alias_of churn production) $(n_versions churn)" "registry unchanged after the refusal"
jrun "$CAIRN" --json models history churn
expect_eq "2 refused 1 None $W BLOCK" "$(json '" ".join(str(x) for x in [len(j["history"])] + [j["history"][-1][k] for k in ("action", "from_version", "to_version", "run", "verdict")])')" "refused row appended"
expect_match 'auc_vs_production' "$(json 'j["history"][-1]["reason"]')" "refusal reason names the gate"
jrun "$CAIRN" --json promote "$W" --model churn; expect_rc 1 "refused promotion with --json"
expect_eq "false 0" "$(json 'str(j["promoted"]).lower(), j["version"]' | tr -d "(),'")" "refusal JSON"
expect_match 'auc_vs_production' "$(json '" ".join(j["reasons"])')" "refusal JSON reasons"

# ---- 3. the gates are the run's, not the spec file's ---------------------------------------
spec "$T/weak.yaml" "{type: gbdt, rounds: 2, max_depth: 1}"
run "$CAIRN" promote "$W" --model churn; expect_rc 1 "still refused after the spec file lost its gates"
expect_match 'auc_vs_production' "$ERR" "same gate still fails"
jrun "$CAIRN" --json runs show "$W"; expect_eq 4 "$(json 'len(j["gates"])')" "the run keeps its four gates"
expect_eq "1 1 4" "$(alias_of churn production) $(n_versions churn) $(n_history churn)" "nothing moved; two refusals audited"

# ---- 4. override --------------------------------------------------------------------------------
jrun "$CAIRN" --json promote "$W" --model churn --override "ticket 7"; expect_rc 0 "override"
expect_eq "true true 2 1" "$(json '"%s %s %d %d" % (str(j["promoted"]).lower(), str(j["overridden"]).lower(), j["version"], j["from_version"])')" "override JSON"
ART2=$(json 'j["artifact"]')
expect_eq 2 "$(alias_of churn production)" "production = 2"
jrun "$CAIRN" --json models show churn
expect_eq "1 override $W 1 2 BLOCK" "$(json '" ".join(str(x) for x in [len(j["overrides"])] + [j["overrides"][0][k] for k in ("action", "run", "from_version", "to_version", "verdict")])')" "show lists the override"
expect_match 'ticket 7' "$(json 'j["overrides"][0]["reason"]')" "override reason recorded"
expect_eq "auc_vs_production slice_auc_drop" "$(json '" ".join(sorted(g["metric"] for g in j["overrides"][0]["gates"] if g["status"] == "fail"))')" "override lists the failed gates"
jrun "$CAIRN" --json models history churn --limit 1
expect_eq "1 override" "$(json 'len(j["history"]), j["history"][0]["action"]' | tr -d "(),'")" "history --limit 1 is the override"
run "$CAIRN" models show churn; expect_match 'overrides \(promoted despite' "$OUT" "show text has the overrides section"
expect_match 'reason: override: ticket 7' "$OUT" "show text has the override reason"
run "$CAIRN" promote "$W" --model churn --override ""; expect_rc 2 "empty override reason"

# ---- 5. rollback ---------------------------------------------------------------------------------
jrun "$CAIRN" --json rollback churn --reason "bad override"; expect_rc 0 "rollback"
expect_eq "2 1" "$(json 'j["from_version"], j["to_version"]' | tr -d '(),')" "rollback 2 -> 1"
expect_eq 1 "$(alias_of churn production)" "production back at 1"
run "$CAIRN" rollback churn; expect_rc 1 "a second rollback does not flip back to 2"
expect_match 'no earlier version' "$ERR" "nothing earlier"
expect_eq 1 "$(alias_of churn production)" "still 1"
run "$CAIRN" rollback churn --to 2; expect_rc 0 "rollback --to 2"
expect_eq 2 "$(alias_of churn production)" "production at 2"
run "$CAIRN" rollback churn --to 2; expect_rc 1 "rollback to the version it holds"
expect_match 'already holds version 2' "$ERR" "already holds"
run "$CAIRN" rollback churn --to 9; expect_rc 3 "rollback to a version that does not exist"
run "$CAIRN" rollback churn --to 0; expect_rc 2 "rollback --to 0"
run "$CAIRN" rollback nosuch; expect_rc 3 "rollback of an unknown model"
expect_match 'no model nosuch' "$ERR" "unknown model message"
run "$CAIRN" rollback churn --alias shadow; expect_rc 1 "rollback of an unset alias"
run "$CAIRN" rollback churn --to 1; expect_rc 0 "rollback --to 1"
jrun "$CAIRN" --json models history churn
expect_eq "rollback rollback rollback" "$(json '" ".join(e["action"] for e in j["history"][-3:])')" "three rollbacks audited"
expect_eq "bad override" "$(json '[e["reason"] for e in j["history"] if e["action"] == "rollback"][0]')" "rollback reason"
run "$CAIRN" promote "$G" --model solo; expect_rc 0 "promote into a second model"
run "$CAIRN" rollback solo; expect_rc 1 "rollback of a model with one version"
expect_match 'no earlier version' "$ERR" "nothing to roll back to"

# ---- 6. canary -----------------------------------------------------------------------------------
jrun "$CAIRN" --json promote "$G" --model churn --alias canary --percent 10; expect_rc 0 "canary promotion"
expect_eq "1 canary" "$(json 'j["version"], j["alias"]' | tr -d "(),'")" "the same artifact keeps its version"
jrun "$CAIRN" --json models show churn
expect_eq "1 10" "$(json '" ".join(str(a[k]) for a in j["aliases"] if a["alias"] == "canary" for k in ("version", "percent"))' | sed 's/10\.0$/10/')" "canary at 1 with 10%"
expect_eq 2 "$(json 'len(j["versions"])')" "still two versions"
run "$CAIRN" models show churn; expect_match 'canary +-> churn@1 \(10% of traffic\)' "$OUT" "show text canary share"
run "$CAIRN" promote "$G" --model churn --percent 10; expect_rc 2 "--percent without canary"
expect_match 'canary alias only' "$ERR" "percent without canary message"
run "$CAIRN" promote "$G" --model churn --alias canary; expect_rc 2 "canary without --percent"
expect_match 'canary needs a traffic percentage' "$ERR" "canary without percent message"
for p in 0 150 -5 abc; do
  run "$CAIRN" promote "$G" --model churn --alias canary --percent "$p"; expect_rc 2 "--percent $p"
  expect_match "--percent must be a number in \(0, 100\], not '$p'" "$ERR" "--percent $p message"
done
expect_eq 1 "$(alias_of churn canary)" "canary unchanged by the bad calls"

# ---- 7. lineage ----------------------------------------------------------------------------------
jrun "$CAIRN" --json models show churn
PV=$(json '[v for v in j["versions"] if "production" in v["aliases"]][0]["version"]')
expect_eq "1 churn 1 $DATA_HASH $G" "$(json '" ".join(str(x) for v in j["versions"] if "production" in v["aliases"] for x in (v["version"], v["dataset"]["name"], v["dataset"]["version"], v["dataset"]["hash"], v["run"]))')" "production lineage"
LIN=$(json '" ".join(str(x) for v in j["versions"] if v["version"] == 1 for x in (v["dataset"]["name"], v["dataset"]["version"], v["dataset"]["hash"], v["contract_hash"]))')
OUT=$SG; expect_eq "$LIN" "$(json '" ".join(str(x) for x in (j["dataset"]["name"], j["dataset"]["version"], j["dataset"]["hash"], j["contract_hash"]))')" "runs show agrees"
CH=$(b2 "$CAIRN_HOME/contracts/churn.yaml")
expect_eq "$CH" "$(json 'j["contract_hash"]')" "contract hash is BLAKE2b of the saved contract"

# ---- 8. export / import ----------------------------------------------------------------------
F=$T/churn.art
jrun "$CAIRN" --json export churn -o "$F"; expect_rc 0 "export churn"
expect_eq "$(b2 "$F") $(stat -c %s "$F") 0" "$(json '"%s %d %d" % (j["artifact"], j["bytes"], j["signatures"])')" "export JSON: the file's b2sum, its size, no signatures"
expect_eq "$ART1" "$(b2 "$F")" "exported bytes are the production artifact"
[ ! -e "$F.sig" ] && ok || fail "no .sig without signatures"
H2=$T/home2
"$CAIRN" --home "$H2" init >/dev/null
jrun "$CAIRN" --home "$H2" --json import "$F"; expect_rc 0 "import into a fresh home"
expect_eq "churn 1 $ART1 $G $DATA_HASH" "$(json '" ".join(str(x) for x in (j["model"], j["version"], j["artifact"], j["run"], j["dataset"]["hash"]))')" "import JSON"
jrun "$CAIRN" --home "$H2" --json models show churn
expect_eq "1 import $ART1 $G churn 1 $DATA_HASH" "$(json '" ".join(str(x) for v in j["versions"] for x in (v["version"], v["source"], v["artifact"], v["run"], v["dataset"]["name"], v["dataset"]["version"], v["dataset"]["hash"]))')" "imported version keeps its lineage"
expect_eq "$CH" "$(json 'j["versions"][0]["contract_hash"]')" "imported contract hash"
expect_eq True "$(json "abs(j['versions'][0]['metrics']['auc']['estimate'] - $AUC_G) < 1e-12")" "imported metrics"
expect_eq "[]" "$(json 'j["aliases"]')" "an import moves no alias"
expect_eq "$ART1" "$(b2 "$H2/objects/$ART1.art")" "the object in the new home"
jrun "$CAIRN" --home "$H2" --json import "$F"; expect_rc 0 "import again"
expect_eq 1 "$(json 'j["version"]')" "importing again returns the same version"
expect_eq 1 "$(n_versions churn "$H2")" "still one version"
jrun "$CAIRN" --home "$H2" --json import "$F" --model other; expect_rc 0 "import under another name"
expect_eq "other 1" "$(json 'j["model"], j["version"]' | tr -d "(),'")" "--model names the model"
# A flipped byte in the middle of the model section, a changed digit in the
# manifest's text (the content hash covers text sections too), and the file cut
# in half: each must be refused.
$PY - "$F" "$T" <<'PYEOF'
import struct, sys
src, out = sys.argv[1], sys.argv[2]
b = bytes(open(src, 'rb').read())
count = struct.unpack_from('<I', b, 12)[0]
entries = [struct.unpack_from('<IIQQ', b, 56 + 24 * i) for i in range(count)]
for kind, flags, off, n in entries:
    if kind == 4:   # the model section
        f = bytearray(b); f[off + n // 2] ^= 0x10
        open(out + '/flipped.art', 'wb').write(f)
    if kind == 1:   # the manifest (JSON text)
        e = bytearray(b)
        q = next(i for i in range(off, off + n) if 0x31 <= e[i] <= 0x38)
        e[q] += 1
        open(out + '/edited.art', 'wb').write(e)
PYEOF
head -c $(( $(stat -c %s "$F") / 2 )) "$F" > "$T/truncated.art"
cmp -s "$F" "$T/flipped.art" && fail "the flipped copy differs" || ok
cmp -s "$F" "$T/edited.art" && fail "the edited copy differs" || ok
for bad in flipped edited truncated; do
  run "$CAIRN" --home "$H2" import "$T/$bad.art"; expect_rc 3 "$bad artifact refused"
  expect_match '^cairn: error: .*(artifact|content hash|length|shorter)' "$ERR" "$bad artifact: clear error"
done
run "$CAIRN" --home "$H2" import "$T/edited.art"
expect_match 'content hash' "$ERR" "an edited text section is caught by the content hash"
run "$CAIRN" --home "$H2" import "$T/nosuch.art"; expect_rc 3 "import of a missing file"
expect_eq "1" "$(n_versions churn "$H2")" "refused files register nothing"
run "$CAIRN" export churn; expect_rc 2 "export without -o"
run "$CAIRN" export nosuch -o "$T/x.art"; expect_rc 3 "export of an unknown model"
jrun "$CAIRN" --json export "$W" -o "$T/w.art"; expect_rc 0 "export a run"
expect_eq "$ART2" "$(b2 "$T/w.art")" "a run's artifact equals its registered version's"

# ---- 9. keys, signing, trust ----------------------------------------------------------------------
K=$T/k
jrun "$CAIRN" --json keys gen -o "$K"; expect_rc 0 "keys gen"
PK=$(json 'j["public_key"]')
expect_eq 600 "$(stat -c %a "$K.key")" "secret key mode 0600"
expect_eq "cairn-ed25519-public $PK" "$(cat "$K.pub")" "public key file"
run "$CAIRN" keys gen -o "$K"; expect_rc 2 "keys gen refuses to overwrite"
expect_match 'never overwritten' "$ERR" "overwrite message"
expect_eq "cairn-ed25519-public $PK" "$(cat "$K.pub")" "the key files are untouched"
HS=$T/homes
"$CAIRN" --home "$HS" init >/dev/null
"$CAIRN" --home "$HS" data add "$T/churn.csv" --name churn >/dev/null
"$CAIRN" --home "$HS" contract infer churn --label churned --entity customer_id --time signup_time --save -q >/dev/null
run "$CAIRN" --home "$HS" keys ls; expect_match 'no trusted keys' "$OUT" "no keys yet"
run "$CAIRN" --home "$HS" keys trust "$K.pub"; expect_rc 0 "keys trust"
jrun "$CAIRN" --home "$HS" --json keys ls; expect_eq "$PK" "$(json '" ".join(k["public_key"] for k in j["trusted_keys"])')" "keys ls lists the key"
run "$CAIRN" --home "$HS" keys trust "$K.key"; expect_rc 3 "a secret key file is not a public key"
jrun "$CAIRN" --home "$HS" --json train "$T/good.yaml"; S=$(json 'j["id"]')
run "$CAIRN" --home "$HS" export "$S" -o "$T/s.art"; expect_rc 1 "export of an unsigned run refused"
expect_match 'unsigned.*trusts 1 key' "$ERR" "export refusal names the reason"
run "$CAIRN" --home "$HS" promote "$S" --model churn; expect_rc 1 "promotion of an unsigned run refused"
expect_match 'unsigned.*trusts 1 key' "$ERR" "promotion refusal names the reason"
jrun "$CAIRN" --home "$HS" --json models ls; expect_eq 0 "$(json 'len(j["models"])')" "nothing promoted"
jrun "$CAIRN" --home "$HS" --json sign "$S" --key "$K.key"; expect_rc 0 "sign"
expect_eq "1 $PK" "$(json 'j["signatures"], j["public_key"]' | tr -d "(),'")" "one signature by the key"
SART=$(json 'j["artifact"]')
run "$CAIRN" --home "$HS" promote "$S" --model churn; expect_rc 0 "promotion after signing"
expect_eq 1 "$(alias_of churn production "$HS")" "signed version promoted"
run "$CAIRN" --home "$HS" sign "$S" --key "$K.pub"; expect_rc 3 "signing with a public key file"
run "$CAIRN" --home "$HS" train "$T/good.yaml" --sign "$K.key"; expect_rc 0 "train --sign"
expect_match 'signed r-[0-9a-f]{12}: artifact [0-9a-f]{64} by key .*\(1 signature recorded\)' "$OUT" "train --sign reports the signature"
ST=$(printf '%s' "$OUT" | grep -Eo '^run r-[0-9a-f]{12}' | cut -d' ' -f2)
jrun "$CAIRN" --home "$HS" --json export "$ST" -o "$T/t.art"; expect_rc 0 "export of a run signed at train time"
expect_eq 1 "$(json 'j["signatures"]')" "signed at train time"
FS=$T/signed.art
jrun "$CAIRN" --home "$HS" --json export churn -o "$FS"; expect_rc 0 "export signed"
expect_eq "1 $SART" "$(json 'j["signatures"], j["artifact"]' | tr -d "(),'")" "export reports the signature"
[ -f "$FS.sig" ] && ok || fail "export wrote $FS.sig"
OUT=$(cat "$FS.sig")
expect_eq "$(b2 "$FS") $PK 128" "$(json 'j["artifact"], j["signatures"][0]["public_key"], len(j["signatures"][0]["signature"])' | tr -d "(),'")" "signature file names the artifact (b2sum) and the key"
trusting_home() { "$CAIRN" --home "$1" init >/dev/null && "$CAIRN" --home "$1" keys trust "$K.pub" >/dev/null; }
trusting_home "$T/h3"
jrun "$CAIRN" --home "$T/h3" --json import "$FS"; expect_rc 0 "a trusting home imports the signed file"
expect_eq "1 1 $SART" "$(json 'j["version"], j["signatures"], j["artifact"]' | tr -d "(),'")" "import verified the signature"
trusting_home "$T/h4"
mkdir -p "$T/nosig" && cp "$FS" "$T/nosig/signed.art"
run "$CAIRN" --home "$T/h4" import "$T/nosig/signed.art"; expect_rc 1 "without its .sig the file is refused"
expect_match 'unsigned' "$ERR" "unsigned import message"
run "$CAIRN" --home "$T/h4" import "$F"; expect_rc 1 "an unsigned artifact from elsewhere is refused"
mkdir -p "$T/badsig" && cp "$FS" "$T/badsig/signed.art"
$PY - "$FS.sig" "$T/badsig/signed.art.sig" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
s = d['signatures'][0]['signature']
d['signatures'][0]['signature'] = s[:40] + ('0' if s[40] != '0' else '1') + s[41:]
open(sys.argv[2], 'w').write(json.dumps(d))
PYEOF
run "$CAIRN" --home "$T/h4" import "$T/badsig/signed.art"; expect_rc 1 "a tampered signature is refused"
expect_match 'wrongly signed' "$ERR" "wrongly signed message"
"$CAIRN" --home "$T/h5" init >/dev/null
run "$CAIRN" --home "$T/h5" import "$T/badsig/signed.art"; expect_rc 1 "a tampered signature is refused without trusted keys too"
jrun "$CAIRN" --home "$T/h4" --json models ls; expect_eq 0 "$(json 'len(j["models"])')" "refused imports register nothing"
printf 'not json' > "$T/badsig/signed.art.sig"
run "$CAIRN" --home "$T/h4" import "$T/badsig/signed.art"; expect_rc 3 "a malformed .sig"

# ---- 10. two promotions race for one alias --------------------------------------------------
train "$T/good.yaml"; C1=$ID
train "$T/good.yaml"; C2=$ID
BEFORE=$(alias_of churn production); NV=$(n_versions churn)
CAIRN_TEST_PAUSE_MS=1500 "$CAIRN" --json promote "$C1" --model churn >"$T/c1.out" 2>"$T/c1.err" &
P1=$!
CAIRN_TEST_PAUSE_MS=1500 "$CAIRN" --json promote "$C2" --model churn >"$T/c2.out" 2>"$T/c2.err" &
P2=$!
wait "$P1"; R1=$?
wait "$P2"; R2=$?
expect_eq "0 1" "$(printf '%s\n' "$R1" "$R2" | sort | tr '\n' ' ' | sed 's/ $//')" "one promotion wins, the other is refused"
if [ "$R1" -eq 0 ]; then WIN=c1; LOSE=c2; else WIN=c2; LOSE=c1; fi
expect_match "moved to version [0-9]+ while this promotion was being reviewed" "$(cat "$T/$LOSE.err")" "the loser says the alias moved"
OUT=$(cat "$T/$WIN.out"); WV=$(json 'j["version"]' 2>/dev/null)
expect_eq "$((NV + 1)) $BEFORE" "$WV $(json 'j["from_version"]' 2>/dev/null)" "the winner registered the next version from the old alias"
expect_eq "$WV" "$(alias_of churn production)" "the alias is on the winner's version"
expect_eq "$((NV + 1))" "$(n_versions churn)" "exactly one new version"
expect_eq ok "$(integrity "$CAIRN_HOME/cairn.db")" "integrity after the race"

# ---- 11. killed inside the transaction; crash before commit ---------------------------------
train "$T/good.yaml"; C3=$ID
NV=$(n_versions churn); NH=$(n_history churn)
CAIRN_TEST_PAUSE_MS=3000 "$CAIRN" promote "$C3" --model churn >/dev/null 2>&1 &
PK9=$!
sleep 1
kill -9 "$PK9" 2>/dev/null; wait "$PK9" 2>/dev/null; RK=$?
expect_eq 137 "$RK" "the promotion was killed (not finished within 1 s)"
expect_eq ok "$(integrity "$CAIRN_HOME/cairn.db")" "integrity after kill -9"
expect_eq "$WV $NV $NH" "$(alias_of churn production) $(n_versions churn) $(n_history churn)" "alias, versions and history unchanged after kill -9"
CAIRN_TEST_CRASH_AT=before-commit "$CAIRN" promote "$C3" --model churn >/dev/null 2>&1
expect_eq 70 "$?" "crash hook before-commit fired"
expect_eq ok "$(integrity "$CAIRN_HOME/cairn.db")" "integrity after the crash"
expect_eq "$WV $NV $NH" "$(alias_of churn production) $(n_versions churn) $(n_history churn)" "nothing committed by the crashed promotion"
jrun "$CAIRN" --json promote "$C3" --model churn; expect_rc 0 "a promotion after the kill and the crash"
expect_eq "$((NV + 1)) $WV" "$(json 'j["version"], j["from_version"]' | tr -d '(),')" "next version number, no gap"
expect_eq "$((NV + 1))" "$(alias_of churn production)" "alias moved"

# ---- 12. help ------------------------------------------------------------------------------------
run "$CAIRN" help --markdown; expect_rc 0 "help --markdown"
MD=$OUT
for c in review promote rollback "models ls" "models show" "models history" export import \
         "keys gen" "keys trust" "keys ls" sign; do
  run "$CAIRN" $c --help; expect_rc 0 "$c --help"
  expect_match "^usage: cairn $c" "$OUT" "$c usage line"
  expect_match "^## cairn $c\$" "$MD" "help --markdown has $c"
done
run "$CAIRN" train --help; expect_match '--sign KEY' "$OUT" "train --help lists --sign"
report_nonstrict
finish
