//! The memory a container (a cgroup) lets this process use: a run asked for a larger
//! `--memory-limit` would be OOM-killed later without a message, so `siyu run` refuses it
//! at start (docs/operations.md, "Memory").
//!
//! cgroup v2 (`0::/path` in /proc/self/cgroup, `memory.max`) and v1 (`N:memory:/path`,
//! `memory.limit_in_bytes`); the cgroup's own limit and its ancestors' up to the
//! hierarchy's mount, the smallest winning. "No limit" (`max`, or v1's page-rounded
//! 2^63) is none.

use std::path::{Path, PathBuf};

/// The cgroup memory limit of this process, in bytes, and the file that sets it; `None`
/// when there is none (or no cgroup filesystem).
pub fn memory_limit() -> Option<(u64, PathBuf)> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    limit_in(&text, Path::new("/sys/fs/cgroup"))
}

/// [`memory_limit`] for a /proc/self/cgroup text and a cgroup mount root.
pub fn limit_in(proc_cgroup: &str, root: &Path) -> Option<(u64, PathBuf)> {
    let mut smallest: Option<(u64, PathBuf)> = None;
    for line in proc_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let relative = path.trim_start_matches('/');
        let (mounts, file): (Vec<PathBuf>, &str) = if controllers.is_empty() {
            // v2: mounted at the root, or under `unified` beside a v1 hierarchy.
            (vec![root.to_path_buf(), root.join("unified")], "memory.max")
        } else if controllers.split(',').any(|c| c == "memory") {
            (vec![root.join("memory")], "memory.limit_in_bytes")
        } else {
            continue;
        };
        for mount in mounts {
            let mut dir = mount.join(relative);
            loop {
                let at = dir.join(file);
                if let Some(bytes) = std::fs::read_to_string(&at)
                    .ok()
                    .and_then(|t| t.trim().parse::<u64>().ok())
                    .filter(|&b| b < 1 << 60)
                    && smallest.as_ref().is_none_or(|(s, _)| bytes < *s)
                {
                    smallest = Some((bytes, at));
                }
                if dir == mount || !dir.pop() {
                    break;
                }
            }
        }
    }
    smallest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn v1_takes_the_smallest_of_the_cgroup_and_its_ancestors() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        write(
            root,
            "memory/memory.limit_in_bytes",
            "9223372036854771712\n",
        );
        write(root, "memory/jobs/memory.limit_in_bytes", "2147483648\n");
        write(
            root,
            "memory/jobs/siyu/memory.limit_in_bytes",
            "9223372036854771712\n",
        );
        let text = "9:name=systemd:/\n4:memory:/jobs/siyu\n0::/\n";
        assert_eq!(
            limit_in(text, root),
            Some((2 << 30, root.join("memory/jobs/memory.limit_in_bytes")))
        );
        // No limit anywhere: none.
        write(
            root,
            "memory/jobs/memory.limit_in_bytes",
            "9223372036854771712\n",
        );
        assert_eq!(limit_in(text, root), None);
    }

    #[test]
    fn v2_reads_memory_max_and_max_means_none() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        write(root, "memory.max", "max\n");
        write(root, "kubepods/pod1/memory.max", "2684354560\n");
        assert_eq!(
            limit_in("0::/kubepods/pod1\n", root),
            Some((2684354560, root.join("kubepods/pod1/memory.max")))
        );
        write(root, "kubepods/pod1/memory.max", "max\n");
        assert_eq!(limit_in("0::/kubepods/pod1\n", root), None);
        // Nothing mounted there at all.
        assert_eq!(limit_in("0::/\n", &root.join("absent")), None);
    }
}
