//! Many `sharpeyes run` workers sharing a county's cameras, coordinated through etcd (leases,
//! election, watches). etcd decides who runs which camera; Kafka still carries what the cameras
//! see. See docs/cluster.md for the design, the failure cases and the measured figures.
//!
//! - `keys` (pure): the key layout.
//! - `assign` (pure): the leader's sticky, capacity-bound assignment rule.
//! - `fence` (pure): when a worker must stop its cameras (lease about to expire) and when it
//!   keeps them (etcd down for everybody).
//! - `etcd` (I/O): connecting, paged listings, prefix mirrors, endpoint probes.
//! - `member` (I/O): one worker's session, assignment follower and election.
//! - `leader` (I/O): the leader loop.
//! - `rule_state` (I/O, with a pure core): a camera's rule state mirrored to etcd, so it
//!   follows the camera to another worker.
//! - `cli` (I/O): `camera push`, `camera list`, `cluster status`, `cluster simulate`.

pub mod assign;
pub mod cli;
pub mod etcd;
pub mod fence;
pub mod keys;
mod leader;
pub mod member;
pub mod rule_state;

pub use fence::Fenced;
pub use keys::{Keys, WorkerRecord, valid_worker_id};
pub use member::{Desired, LeaderState, Member, MemberOptions};

/// Default key prefix.
pub const DEFAULT_PREFIX: &str = "/sharpeyes";
/// Default lease TTL of a worker, seconds.
pub const DEFAULT_TTL_S: u64 = 5;
/// Default `--capacity`: cameras one box runs. From the density bench on the 2-core reference
/// box (benches/results/2026-12-04T16-41-46-225Z-cpu.md): 104 village cameras within a 1 s
/// p99; 96 keeps a margin of about 8 % for a neighbour's cameras after a failover. See
/// docs/cluster.md ("Sizing a county").
pub const DEFAULT_CAPACITY: usize = 96;
