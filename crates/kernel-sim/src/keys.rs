//! The kvStore keys the kernel writes (docs/KERNEL-SIM.md, "Snapshots and the kv store"): one
//! place for their names, shared by the kernel, the pager and the exporter's root scan.

/// The root pattern of zygote snapshots (configured next to the default `v*.lastSnapshot`).
pub const ZYGOTE_ROOT_PATTERN: &str = "zygote.*.snapshot";

/// `vN.lastSnapshot`: the vat's root.
pub fn root_key(id: u64) -> String {
    format!("v{id}.lastSnapshot")
}

/// `vN.` (every key of the vat starts with it).
pub fn key_prefix(id: u64) -> String {
    format!("v{id}.")
}

/// `zygote.<name>.snapshot`: a zygote's own root.
pub fn zygote_key(name: &str) -> String {
    format!("zygote.{name}.snapshot")
}

/// `vN.options`.
pub fn options_key(id: u64) -> String {
    format!("v{id}.options")
}

/// `vN.t.endPos`: the transcript's end, set by every delivery.
pub fn end_pos_key(id: u64) -> String {
    format!("v{id}.t.endPos")
}

/// `vN.t.startPos`: the transcript position of the last snapshot.
pub fn start_pos_key(id: u64) -> String {
    format!("v{id}.t.startPos")
}

/// `vN.t.span.<k>`: the transcript span closed by the vat's `k`-th snapshot.
pub fn span_key(id: u64, k: u64) -> String {
    format!("v{id}.t.span.{k}")
}

/// `vN.vs.vc.<i>`: a vatstore key (so the kv store is not roots-only).
pub fn vatstore_key(id: u64, i: u64) -> String {
    format!("v{id}.vs.vc.{i}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_vat_key_is_under_its_prefix_and_only_its_own() {
        let prefix = key_prefix(12);
        for key in [root_key(12), options_key(12), end_pos_key(12), start_pos_key(12), span_key(12, 3)] {
            assert!(key.starts_with(&prefix), "{key}");
        }
        assert!(vatstore_key(12, 0).starts_with(&prefix));
        // Terminating v1 must not delete v12's keys.
        assert!(!root_key(12).starts_with(&key_prefix(1)));
        assert_eq!(root_key(7), "v7.lastSnapshot");
        assert_eq!(zygote_key("z1"), "zygote.z1.snapshot");
    }
}
