//! Who the benign logs of one `generate` call are written for, and when.
//!
//! Asked for no user, a call's logs go to the source's training users in proportion to
//! their training logs, each at an hour of the week drawn from that user's own logs
//! ([`Shape::users`], [`Shape::hours`]). The proportions are held by quota, not by
//! independent draws: a user with 3% of the training sign-ins gets 3% of the 1,024
//! asked for, to within one log. Drawn independently, 1,024 sign-ins of 50 users are
//! 0.086 (TVD) from the training mix on every field naming the user even when each log
//! is a real one (2026-12-07, 20 bootstrap draws of `out/sim14`'s benign sign-ins): no
//! generator could be judged within 0.05 there, and a detector retrained on the logs
//! would learn a mix nobody had. By quota the same draws are 0.009 away.

use operators::text_format::{Header, Shape, header_mix};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::quota::by_quota;

/// The random stream header draws take: past any a chunk's rows take ([`model::generate`]
/// gives row `i` stream `i`).
pub const HEADER_STREAM: u64 = u64::MAX;

/// The users and hours benign logs are generated for when none are asked for: a user
/// from the source's training mix and an hour of the week from that user's own logs,
/// both by quota over the call's logs ([`by_quota`]), unless a user is asked for (then
/// only their hours). Its own random stream, so the draws do not move the sampling.
pub struct HeaderMix {
    /// The users logs go to (the asked-for one alone), and how many training logs each
    /// had (1 for the asked-for one).
    users: Vec<String>,
    logs: Vec<u32>,
    /// Per user, the hours of the week of their training logs and how many fell in
    /// each; empty where none says when.
    hours: Vec<(Vec<u8>, Vec<u32>)>,
    /// Logs a plan holds: the call's count.
    count: usize,
    /// The planned headers, user (index into `users`) and hour of the week, taken from
    /// the back; planned again when spent (more logs than the call asked for).
    planned: Vec<(usize, Option<u8>)>,
    rng: ChaCha8Rng,
}

impl HeaderMix {
    /// The plan for `count` logs. `None` where the model picks: a model fitted before
    /// the mix was kept, a group model, logs that may be an attack's (a technique given,
    /// or a red-team model free to write one), whose users and times the benign mix does
    /// not describe, or an asked-for user with no training logs to take the time from.
    pub fn of(
        shape: Option<&Shape>,
        user: Option<&str>,
        technique: bool,
        benign: bool,
        seed: u64,
        count: usize,
    ) -> Option<Self> {
        let shape = shape?;
        let red_team = shape
            .combinations
            .as_ref()
            .is_some_and(|combinations| combinations.tags.iter().any(|tag| !tag.is_empty()));
        if technique || (red_team && !benign) {
            return None;
        }
        let (users, logs): (Vec<String>, Vec<u32>) = match user {
            Some(user) => (vec![user.to_string()], vec![1]),
            None => shape
                .users
                .iter()
                .map(|(name, &logs)| (name.clone(), logs))
                .unzip(),
        };
        let hours: Vec<(Vec<u8>, Vec<u32>)> = users
            .iter()
            .map(|name| match shape.hours.get(name) {
                Some(hours) => (
                    hours.keys().copied().collect(),
                    hours.values().copied().collect(),
                ),
                None => Default::default(),
            })
            .collect();
        let timeless = |(_, counts): &(Vec<u8>, Vec<u32>)| counts.iter().all(|&n| n == 0);
        if logs.iter().all(|&n| n == 0) || (user.is_some() && hours.iter().all(timeless)) {
            return None;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(HEADER_STREAM);
        let mut mix = HeaderMix {
            users,
            logs,
            hours,
            count: count.max(1),
            planned: Vec::new(),
            rng,
        };
        mix.plan();
        Some(mix)
    }

    /// Plans the next [`Self::count`] headers: the users by quota over their training
    /// logs, each user's share by quota over their hours, in a random order.
    fn plan(&mut self) {
        let mut per_user = vec![0usize; self.users.len()];
        for drawn in by_quota(&self.logs, self.count, &mut self.rng) {
            per_user[drawn] += 1;
        }
        for (user, logs) in per_user.into_iter().enumerate() {
            let (of_week, counts) = &self.hours[user];
            match by_quota(counts, logs, &mut self.rng) {
                drawn if drawn.is_empty() => self.planned.extend((0..logs).map(|_| (user, None))),
                drawn => self
                    .planned
                    .extend(drawn.into_iter().map(|at| (user, Some(of_week[at])))),
            }
        }
        self.planned.shuffle(&mut self.rng);
    }

    /// Sets the header's user and, where the user's training logs say when they work,
    /// its weekday and hour: the next planned.
    pub fn fill(&mut self, header: &mut Header) {
        if self.planned.is_empty() {
            self.plan();
        }
        let Some((user, hour_of_week)) = self.planned.pop() else {
            return;
        };
        if let Some(hour_of_week) = hour_of_week {
            let (weekday, hour) = header_mix::weekday_and_hour(hour_of_week);
            header.weekday = Some(weekday);
            header.hour = Some(hour);
        }
        header.user = Some(self.users[user].clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anna_and_omar() -> (Vec<serde_json::Value>, Shape) {
        let logs: Vec<serde_json::Value> = (0..4)
            .map(|i| serde_json::json!({ "event": if i % 2 == 0 { "a" } else { "b" } }))
            .collect();
        let mut shape = Shape::fit(&logs);
        shape.users = [("anna".to_string(), 3), ("omar".to_string(), 1)].into();
        // Anna works Monday 09:00 three times in four, Omar Sunday nights.
        shape.hours = [
            ("anna".to_string(), [(9, 3), (10, 1)].into()),
            ("omar".to_string(), [(167, 1)].into()),
        ]
        .into();
        (logs, shape)
    }

    fn headers(mix: &mut HeaderMix, count: usize) -> Vec<Header> {
        (0..count)
            .map(|_| {
                let mut header = Header::default();
                mix.fill(&mut header);
                header
            })
            .collect()
    }

    #[test]
    fn benign_logs_go_to_users_by_their_training_share_at_their_hours() {
        let (logs, shape) = anna_and_omar();
        let planned = 400;
        let mut mix = HeaderMix::of(Some(&shape), None, false, false, 7, planned)
            .expect("a benign model's mix");
        let drawn = headers(&mut mix, planned);
        let count = |wanted: fn(&Header) -> bool| drawn.iter().filter(|h| wanted(h)).count();
        assert_eq!(count(|h| h.user.as_deref() == Some("anna")), 300);
        assert_eq!(
            count(|h| h.user.as_deref() == Some("anna") && h.hour == Some(9)),
            225
        );
        assert!(drawn.iter().all(|h| match h.user.as_deref() {
            Some("anna") => h.weekday == Some(0) && matches!(h.hour, Some(9 | 10)),
            _ => (h.weekday, h.hour) == (Some(6), Some(23)),
        }));
        // Past the plan, the next plan, of the same mix.
        let beyond = headers(&mut mix, 4000);
        let anna = beyond
            .iter()
            .filter(|h| h.user.as_deref() == Some("anna"))
            .count() as f64
            / 4000.0;
        assert!(
            (anna - 0.75).abs() < 0.03,
            "anna drawn {anna:.3} of the time"
        );

        // An asked-for user keeps their name and gets their own hours; one without
        // training logs leaves the time to the model.
        let mut omar = HeaderMix::of(Some(&shape), Some("omar"), false, false, 7, 1).unwrap();
        let header = &headers(&mut omar, 1)[0];
        assert_eq!(
            (header.user.as_deref(), header.weekday, header.hour),
            (Some("omar"), Some(6), Some(23))
        );
        let mut anna = HeaderMix::of(Some(&shape), Some("anna"), false, false, 7, 8).unwrap();
        let at_nine = headers(&mut anna, 8)
            .iter()
            .filter(|h| h.hour == Some(9))
            .count();
        assert_eq!(at_nine, 6, "three of anna's four hours are 09:00");
        assert!(HeaderMix::of(Some(&shape), Some("zoe"), false, false, 7, 1).is_none());

        // A technique's logs, and a red-team model's logs free to be an attack's, are
        // the model's to give a user and time; a model without a mix keeps picking.
        assert!(HeaderMix::of(Some(&shape), None, true, false, 7, 1).is_none());
        let tagged = [(&logs[0], ""), (&logs[1], "t=T1110")];
        let mut red_team = Shape::fit_tagged("t", tagged);
        red_team.users = shape.users.clone();
        assert!(HeaderMix::of(Some(&red_team), None, false, false, 7, 1).is_none());
        assert!(HeaderMix::of(Some(&red_team), None, false, true, 7, 1).is_some());
        assert!(HeaderMix::of(Some(&Shape::fit(&logs)), None, false, false, 7, 1).is_none());
    }
}
