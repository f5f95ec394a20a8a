# Sourced by the device scripts that compare runs. `state_hashes SAVE_DIR` prints "sha256  path" for every file a run
# promises to reproduce, sorted: the unit state under layers/ and the exported checkpoint's shards (timings and
# reports are measurements). `state_hash SAVE_DIR` is one 16-digit hash of that list.
state_hashes() {
  (cd "$1" && { find layers -name '*.safetensors'; ls -1 -- *.safetensors 2>/dev/null || true; } | sort | xargs -r sha256sum)
}

state_hash() {
  state_hashes "$1" | sha256sum | cut -c1-16
}
