//! Leader election with a `coordination.k8s.io/v1` Lease, as client-go's leaderelection
//! does it: the holder renews the lease every `renew`; another replica takes it over once
//! it is `duration` old; every write is conditional on the lease's resourceVersion, so two
//! replicas never both think they lead.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, PostParams};

/// One replica's part in an election.
#[derive(Clone, Debug)]
pub struct Election {
    api: Api<Lease>,
    name: String,
    identity: String,
    /// How long a lease holds without renewal.
    pub duration: Duration,
    /// How often the holder renews it.
    pub renew: Duration,
}

/// How an attempt to lead ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// This replica holds the lease.
    Leading,
    /// Another replica does.
    Following(String),
}

impl Election {
    /// Take part in the election of Lease `namespace/name` as `identity`.
    pub fn new(client: Client, namespace: &str, name: &str, identity: &str) -> Self {
        Election {
            api: Api::namespaced(client, namespace),
            name: name.to_string(),
            identity: identity.to_string(),
            duration: Duration::from_secs(15),
            renew: Duration::from_secs(5),
        }
    }

    /// Acquire or renew the lease, once.
    pub async fn try_lead(&self) -> Result<Outcome, kube::Error> {
        let now = MicroTime(Timestamp::now());
        let seconds = i32::try_from(self.duration.as_secs()).unwrap_or(15);
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.identity.clone()),
                    lease_duration_seconds: Some(seconds),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(Outcome::Leading),
                // Another replica created it first.
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(Outcome::Following(String::new())),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let held_for = spec.lease_duration_seconds.map_or(self.duration, |s| {
            Duration::from_secs(u64::try_from(s).unwrap_or(15))
        });
        let expired = spec.renew_time.as_ref().is_none_or(|t| {
            let age = Timestamp::now().duration_since(t.0);
            age.as_secs() < 0 || age.unsigned_abs() > held_for
        });
        if holder != self.identity && !holder.is_empty() && !expired {
            return Ok(Outcome::Following(holder));
        }
        if holder != self.identity {
            spec.acquire_time = Some(now.clone());
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
            spec.holder_identity = Some(self.identity.clone());
        }
        spec.renew_time = Some(now);
        spec.lease_duration_seconds = Some(seconds);
        // Conditional on the resourceVersion read: a concurrent writer makes this fail.
        match self.api.replace(&self.name, &PostParams::default(), &lease).await {
            Ok(_) => Ok(Outcome::Leading),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(Outcome::Following(holder)),
            Err(e) => Err(e),
        }
    }

    /// Wait until this replica leads.
    pub async fn acquire(&self) -> Result<(), kube::Error> {
        let mut reported = String::new();
        loop {
            match self.try_lead().await? {
                Outcome::Leading => {
                    tracing::info!(identity = %self.identity, lease = %self.name, "leading");
                    return Ok(());
                }
                Outcome::Following(holder) => {
                    if holder != reported {
                        tracing::info!(leader = %holder, "another replica leads; waiting");
                        reported = holder;
                    }
                }
            }
            tokio::time::sleep(self.renew).await;
        }
    }

    /// Renew every `renew` until a renewal fails or another replica took over; returns
    /// then (leadership is lost: the caller stops reconciling).
    pub async fn keep(&self) {
        let mut failing_since: Option<tokio::time::Instant> = None;
        loop {
            tokio::time::sleep(self.renew).await;
            match self.try_lead().await {
                Ok(Outcome::Leading) => failing_since = None,
                Ok(Outcome::Following(holder)) => {
                    tracing::warn!(leader = %holder, "leadership lost");
                    return;
                }
                Err(e) => {
                    // Keep leading through short API hiccups, never past the lease.
                    let since = *failing_since.get_or_insert_with(tokio::time::Instant::now);
                    tracing::warn!(error = %e, "lease renewal failed");
                    if since.elapsed() + self.renew >= self.duration {
                        tracing::warn!("leadership lost: the lease could not be renewed");
                        return;
                    }
                }
            }
        }
    }

    /// Give the lease up (on shutdown) so another replica takes over at once.
    pub async fn release(&self) {
        if let Ok(Some(mut lease)) = self.api.get_opt(&self.name).await
            && let Some(spec) = lease.spec.as_mut()
            && spec.holder_identity.as_deref() == Some(self.identity.as_str())
        {
            spec.holder_identity = None;
            spec.renew_time = None;
            let _ = self.api.replace(&self.name, &PostParams::default(), &lease).await;
        }
    }
}
