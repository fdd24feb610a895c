//! A history checker in Jepsen's vocabulary, for tests that load dchat under faults.
//!
//! A test records what its clients did ([`History::sent`]: every send with its key and
//! outcome), what every subscriber received ([`History::delivered`], in arrival order),
//! and what the server holds at the end ([`History::stored`]). [`History::check`] counts,
//! per room: *lost* (acknowledged, but absent or stored at another offset than the one
//! acknowledged), *duplicated* (one key stored twice), *unexpected* (stored, never sent),
//! *recovered* (outcome unknown to the client, stored: fine), rooms whose offsets are not
//! exactly 1..n; and per subscriber and room: offsets delivered twice, *non-monotonic*
//! (an offset below one seen before), *skipped* (a jump past the next offset) and *unseen*
//! (stored, never delivered). A clean history has zero of each.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::json;

/// What a client knows of one send.
#[derive(Debug, Clone)]
struct Sent {
    room: String,
    key: String,
    /// The acknowledged offset; `None` when the client never got an answer.
    acked: Option<i64>,
}

/// The anomalies of a history; see the module docs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Report {
    pub(crate) lost: usize,
    pub(crate) duplicated: usize,
    pub(crate) unexpected: usize,
    pub(crate) recovered: usize,
    pub(crate) rooms_with_holes: usize,
    pub(crate) delivered_twice: usize,
    pub(crate) non_monotonic: usize,
    pub(crate) skipped: usize,
    pub(crate) unseen: usize,
}

impl Report {
    /// True when nothing went wrong (recovered sends are not a fault).
    pub(crate) fn is_clean(&self) -> bool {
        Self { recovered: self.recovered, ..Self::default() } == *self
    }
}

#[derive(Debug, Default)]
pub(crate) struct History {
    sent: Vec<Sent>,
    /// Room -> (offset, key) of every stored message.
    stored: BTreeMap<String, Vec<(i64, Option<String>)>>,
    /// (subscriber, room) -> offsets in arrival order.
    delivered: BTreeMap<(usize, String), Vec<i64>>,
}

impl History {
    /// A send of `key` to `room`, acknowledged at `acked` (or never answered).
    pub(crate) fn sent(&mut self, room: &str, key: &str, acked: Option<i64>) {
        self.sent.push(Sent { room: room.to_owned(), key: key.to_owned(), acked });
    }

    /// A message the server holds at the end.
    pub(crate) fn stored(&mut self, room: &str, offset: i64, key: Option<&str>) {
        self.stored.entry(room.to_owned()).or_default().push((offset, key.map(str::to_owned)));
    }

    /// A message a subscriber received, in the order it arrived.
    pub(crate) fn delivered(&mut self, subscriber: usize, room: &str, offset: i64) {
        self.delivered.entry((subscriber, room.to_owned())).or_default().push(offset);
    }

    /// The history as JSON lines, one operation per line, for a person to read after a
    /// failure.
    pub(crate) fn to_jsonl(&self) -> String {
        let sent = self.sent.iter().map(|s| json!({"op": "send", "room": s.room, "key": s.key, "acked": s.acked}));
        let stored = self.stored.iter().flat_map(|(room, messages)| {
            messages
                .iter()
                .map(move |(offset, key)| json!({"op": "stored", "room": room, "offset": offset, "key": key}))
        });
        let delivered = self.delivered.iter().map(|((subscriber, room), offsets)| {
            json!({"op": "delivered", "subscriber": subscriber, "room": room, "offsets": offsets})
        });
        sent.chain(stored).chain(delivered).map(|line| format!("{line}\n")).collect()
    }

    pub(crate) fn check(&self) -> Report {
        let mut report = Report::default();
        // Where each (room, key) is stored, and how often.
        let mut stored_at: HashMap<(&str, &str), Vec<i64>> = HashMap::new();
        let sent_keys: HashSet<(&str, &str)> = self.sent.iter().map(|s| (s.room.as_str(), s.key.as_str())).collect();
        for (room, messages) in &self.stored {
            let mut offsets: Vec<i64> = messages.iter().map(|(offset, _)| *offset).collect();
            offsets.sort_unstable();
            if offsets != (1..=offsets.len() as i64).collect::<Vec<_>>() {
                report.rooms_with_holes += 1;
            }
            for (offset, key) in messages {
                match key {
                    Some(key) if sent_keys.contains(&(room.as_str(), key.as_str())) => {
                        stored_at.entry((room.as_str(), key.as_str())).or_default().push(*offset);
                    }
                    _ => report.unexpected += 1,
                }
            }
        }
        report.duplicated = stored_at.values().map(|offsets| offsets.len().saturating_sub(1)).sum();
        // A key sent several times (retries) is one operation: judge it by its answers.
        let mut outcomes: HashMap<(&str, &str), Vec<Option<i64>>> = HashMap::new();
        for sent in &self.sent {
            outcomes.entry((sent.room.as_str(), sent.key.as_str())).or_default().push(sent.acked);
        }
        for (key, answers) in &outcomes {
            let stored = stored_at.get(key);
            let acked: Vec<i64> = answers.iter().flatten().copied().collect();
            match (acked.is_empty(), stored) {
                (true, Some(_)) => report.recovered += 1,
                (true, None) => {}
                (false, None) => report.lost += 1,
                (false, Some(offsets)) => {
                    if acked.iter().any(|offset| !offsets.contains(offset)) {
                        report.lost += 1;
                    }
                }
            }
        }
        for ((_, room), offsets) in &self.delivered {
            let head = self.stored.get(room).map_or(0, Vec::len) as i64;
            let mut seen = HashSet::new();
            let mut last = 0;
            for &offset in offsets {
                if !seen.insert(offset) {
                    report.delivered_twice += 1;
                } else if offset < last {
                    report.non_monotonic += 1;
                } else if offset > last + 1 {
                    report.skipped += 1;
                }
                last = last.max(offset);
            }
            report.unseen += (1..=head).filter(|offset| !seen.contains(offset)).count();
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two sends acknowledged at 1 and 2, stored there, delivered once each in order.
    fn clean() -> History {
        let mut history = History::default();
        history.sent("r", "a", Some(1));
        history.sent("r", "b", Some(2));
        history.stored("r", 1, Some("a"));
        history.stored("r", 2, Some("b"));
        history.delivered(0, "r", 1);
        history.delivered(0, "r", 2);
        history
    }

    #[test]
    fn a_clean_history_has_no_anomaly() {
        let report = clean().check();
        assert!(report.is_clean(), "{report:?}");
        assert!(clean().to_jsonl().lines().count() == 5);
    }

    #[test]
    fn each_anomaly_is_counted() {
        let mut lost = clean();
        lost.sent("r", "c", Some(3));
        assert_eq!(lost.check(), Report { lost: 1, ..Report::default() });

        let mut wrong_offset = History::default();
        wrong_offset.sent("r", "a", Some(2));
        wrong_offset.stored("r", 1, Some("a"));
        assert_eq!(wrong_offset.check().lost, 1, "acknowledged at another offset than stored");

        let mut duplicated = clean();
        duplicated.stored("r", 3, Some("a"));
        duplicated.delivered(0, "r", 3);
        assert_eq!(duplicated.check(), Report { duplicated: 1, ..Report::default() });

        let mut unexpected = clean();
        unexpected.stored("r", 3, Some("never-sent"));
        unexpected.delivered(0, "r", 3);
        assert_eq!(unexpected.check(), Report { unexpected: 1, ..Report::default() });

        let mut recovered = clean();
        recovered.sent("r", "c", None);
        recovered.sent("r", "c", None);
        recovered.stored("r", 3, Some("c"));
        recovered.delivered(0, "r", 3);
        let report = recovered.check();
        assert_eq!(report, Report { recovered: 1, ..Report::default() });
        assert!(report.is_clean());

        let mut hole = clean();
        hole.sent("r", "c", Some(4));
        hole.stored("r", 4, Some("c"));
        hole.delivered(0, "r", 4);
        let report = hole.check();
        assert_eq!((report.rooms_with_holes, report.skipped), (1, 1));

        let mut twice = clean();
        twice.delivered(0, "r", 2);
        assert_eq!(twice.check(), Report { delivered_twice: 1, ..Report::default() });

        let mut backwards = History::default();
        for (key, offset) in [("a", 1), ("b", 2), ("c", 3)] {
            backwards.sent("r", key, Some(offset));
            backwards.stored("r", offset, Some(key));
        }
        for offset in [1, 3, 2] {
            backwards.delivered(0, "r", offset);
        }
        let report = backwards.check();
        assert_eq!((report.skipped, report.non_monotonic), (1, 1));

        let mut unseen = clean();
        unseen.delivered(1, "r", 1);
        assert_eq!(unseen.check(), Report { unseen: 1, ..Report::default() });
    }
}
