//! Single-use confirmations of destructive tool calls: the `confirmation_token` of a preview
//! and the nonce inside a sealed MRTR request state. Each is kept (as its SHA-256, never the
//! token) with what it was issued for, until it is used once or expires.
//!
//! [`Confirmations`] is the small interface; the SQLite and PostgreSQL key stores implement it
//! next to the keys, so a confirmation given through one server is honoured by any other that
//! uses the store (every replica, on PostgreSQL), and [`MemoryConfirmations`] keeps them in the
//! process when there is none.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::BoxFuture;
use super::store::StoreError;

/// Who asked for what: a confirmation is good only for the same caller, tool and arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    /// The API key id over HTTP, `local` on stdio.
    pub caller: String,
    pub tool: String,
    /// SHA-256 (hex) of the arguments that matter (see `mcp::confirm`).
    pub args: String,
    /// What it is about, in words (`server web-01 (id …) in data center …`), for refusals.
    #[serde(default)]
    pub label: String,
}

impl Binding {
    fn same_call(&self, other: &Binding) -> bool {
        self.caller == other.caller && self.tool == other.tool && self.args == other.args
    }
}

/// What using a confirmation found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redeemed {
    /// Issued for this call, unused and in time: now used up.
    Valid,
    /// Not issued by a server on this store (or long gone).
    Unknown,
    Expired,
    AlreadyUsed,
    /// Issued to another caller; left untouched.
    OtherCaller,
    /// Issued to this caller for another tool or other arguments (`label` says which);
    /// left untouched.
    OtherTarget {
        label: String,
    },
}

/// Where confirmations are kept.
pub trait Confirmations: Send + Sync + std::fmt::Debug + 'static {
    /// Keeps a confirmation (by the SHA-256 of its secret) until `expires_at` (Unix seconds).
    fn issue(
        &self,
        id: String,
        binding: Binding,
        expires_at: i64,
    ) -> BoxFuture<'_, Result<(), StoreError>>;
    /// Uses the confirmation `id` for the call `binding` at `now`: `Valid` once, and only for
    /// the call it was issued for. One atomic step, so two servers cannot both use it.
    fn redeem(
        &self,
        id: String,
        binding: Binding,
        now: i64,
    ) -> BoxFuture<'_, Result<Redeemed, StoreError>>;
    /// The secret that seals MRTR request states: created once, the same for every server
    /// on this store.
    fn sealing_key(&self) -> BoxFuture<'_, Result<Vec<u8>, StoreError>>;
}

/// How long a used or expired confirmation is kept past its expiry, to say "already used" or
/// "expired" rather than "unknown".
pub(crate) const KEPT_SECS: i64 = 3600;

/// The name under which a store keeps the key that seals MRTR request states.
pub(crate) const SEALING_KEY: &str = "confirmation-sealing-key";

/// The id under which a confirmation secret is kept: its SHA-256, hex.
pub fn id_of(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The decision for a stored confirmation; the second value says whether to mark it used.
pub(crate) fn decide(
    stored: &Binding,
    expires_at: i64,
    used: bool,
    asked: &Binding,
    now: i64,
) -> (Redeemed, bool) {
    if stored.caller != asked.caller {
        (Redeemed::OtherCaller, false)
    } else if !stored.same_call(asked) {
        (
            Redeemed::OtherTarget {
                label: stored.label.clone(),
            },
            false,
        )
    } else if used {
        (Redeemed::AlreadyUsed, false)
    } else if expires_at <= now {
        (Redeemed::Expired, false)
    } else {
        (Redeemed::Valid, true)
    }
}

/// The length of the sealing key, in bytes.
pub(crate) const SEALING_KEY_BYTES: usize = 32;

/// A fresh random secret of 32 bytes.
pub(crate) fn random_key() -> Result<Vec<u8>, StoreError> {
    let mut key = vec![0u8; SEALING_KEY_BYTES];
    getrandom::fill(&mut key)
        .map_err(|e| StoreError::Unavailable(format!("no randomness for a sealing key: {e}")))?;
    Ok(key)
}

/// The sealing key as a store read it back, refused unless it is as long as the keys this
/// server makes: a shorter one (a row changed outside ionos-mcp) would seal states anyone
/// could forge, so nothing is sealed with it.
pub(crate) fn stored_sealing_key(value: Vec<u8>) -> Result<Vec<u8>, StoreError> {
    if value.len() == SEALING_KEY_BYTES {
        Ok(value)
    } else {
        Err(StoreError::Unavailable(format!(
            "the stored sealing key ({SEALING_KEY}) is {} bytes, not {SEALING_KEY_BYTES}: the \
             database was changed outside ionos-mcp; delete that row of the `secrets` table and a \
             new key is made (confirmations in progress must then be asked again)",
            value.len()
        )))
    }
}

/// Confirmations in this process only (stdio, or HTTP without a key store).
#[derive(Debug, Default)]
pub struct MemoryConfirmations {
    records: Mutex<HashMap<String, (Binding, i64, bool)>>,
    /// Made on first use.
    key: Mutex<Option<Vec<u8>>>,
}

impl MemoryConfirmations {
    pub fn new() -> MemoryConfirmations {
        MemoryConfirmations::default()
    }
}

impl Confirmations for MemoryConfirmations {
    fn issue(
        &self,
        id: String,
        binding: Binding,
        expires_at: i64,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        let mut records = self
            .records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = super::now();
        // Used or expired records are kept an hour, to say "already used" or "expired".
        records.retain(|_, (_, expires, _)| *expires + KEPT_SECS > now);
        records.insert(id, (binding, expires_at, false));
        Box::pin(async { Ok(()) })
    }

    fn redeem(
        &self,
        id: String,
        binding: Binding,
        now: i64,
    ) -> BoxFuture<'_, Result<Redeemed, StoreError>> {
        let mut records = self
            .records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let outcome = match records.get_mut(&id) {
            None => Redeemed::Unknown,
            Some((stored, expires_at, used)) => {
                let (outcome, mark) = decide(stored, *expires_at, *used, &binding, now);
                if mark {
                    *used = true;
                }
                outcome
            }
        };
        Box::pin(async move { Ok(outcome) })
    }

    fn sealing_key(&self) -> BoxFuture<'_, Result<Vec<u8>, StoreError>> {
        let mut key = self
            .key
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let result = match key.as_ref() {
            Some(k) => Ok(k.clone()),
            None => random_key().inspect(|k| *key = Some(k.clone())),
        };
        Box::pin(async move { result })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(caller: &str, args: &str) -> Binding {
        Binding {
            caller: caller.into(),
            tool: "stop_server".into(),
            args: args.into(),
            label: format!("server {args}"),
        }
    }

    #[tokio::test]
    async fn a_confirmation_is_used_once_and_only_for_its_call() {
        let store = MemoryConfirmations::new();
        let id = id_of("ct_secret");
        store
            .issue(id.clone(), binding("k1", "a"), 1_000)
            .await
            .expect("issued");
        let redeem = |b: Binding, now: i64| store.redeem(id.clone(), b, now);
        assert_eq!(
            redeem(binding("k2", "a"), 10).await.unwrap(),
            Redeemed::OtherCaller
        );
        assert_eq!(
            redeem(binding("k1", "b"), 10).await.unwrap(),
            Redeemed::OtherTarget {
                label: "server a".into()
            }
        );
        assert_eq!(
            redeem(binding("k1", "a"), 1_000).await.unwrap(),
            Redeemed::Expired
        );
        assert_eq!(
            redeem(binding("k1", "a"), 999).await.unwrap(),
            Redeemed::Valid
        );
        assert_eq!(
            redeem(binding("k1", "a"), 999).await.unwrap(),
            Redeemed::AlreadyUsed
        );
        assert_eq!(
            store
                .redeem(id_of("ct_other"), binding("k1", "a"), 10)
                .await
                .unwrap(),
            Redeemed::Unknown
        );
        let key = store.sealing_key().await.unwrap();
        assert_eq!(key.len(), 32);
        assert_eq!(store.sealing_key().await.unwrap(), key);
    }
}
