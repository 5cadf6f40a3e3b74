//! The writer and the syncer: batches grouped, written, made durable, and their outcomes sent
//! back to the requests that wait for them.

use crate::*;

pub(crate) type Warnings = Vec<(usize, finsam_projections::advice::Warning)>;
pub(crate) type Outcome = (Result<Vec<finsam_store::Recorded>, StoreError>, Warnings, finsam_store::Head);

/// A batch for the writer, and where to send its outcome.
pub(crate) struct WriteJob {
    pub(crate) batch: Vec<(usize, Event)>,
    pub(crate) actor: String,
    /// The user recording: every event is checked, as it is written, against what this user may
    /// record in each förbund the event touches (`User::may_record`, `Ledger::touched`).
    pub(crate) user: User,
    pub(crate) expect_head: Option<u64>,
    /// Per förbund, the version its books must be at (`If-Match`).
    pub(crate) expect_versions: Vec<(String, u64)>,
    /// The route it came through, for its access-log line.
    pub(crate) route: &'static str,
    /// Only check (the ledger's rules and the warnings) and write nothing: the web app's forms
    /// show what would be recorded, with its warnings, before the user confirms.
    pub(crate) check_only: bool,
    pub(crate) reply: tokio::sync::oneshot::Sender<Outcome>,
}

/// A group written but not yet durable, on its way from the writer to the syncer.
pub(crate) struct Written {
    pub(crate) jobs: Vec<WriteJob>,
    pub(crate) outcomes: Vec<(Result<Vec<finsam_store::Recorded>, StoreError>, Warnings)>,
    pub(crate) head: finsam_store::Head,
    pub(crate) envelopes: Vec<finsam_store::Envelope>,
}

/// How many of the events recorded last the writer keeps for the duplicate warning.
pub(crate) const RECENT_EVENTS: usize = 4096;

/// How many batches one group commit takes at most.
pub(crate) const GROUP_MAX: usize = 512;

/// The writer (a thread of its own): takes what is queued (at least one batch, at most
/// `GROUP_MAX`), checks it and writes it as one group — one write — and hands it to the syncer.
/// While the syncer makes one group durable the writer checks and writes the next, so the
/// fdatasync's wait and the checks overlap; requests that arrive meanwhile go into the group
/// after. Nothing is acknowledged here.
pub(crate) fn writer(
    shared: Shared_,
    mut queue: tokio::sync::mpsc::Receiver<WriteJob>,
    mut nudged: tokio::sync::mpsc::UnboundedReceiver<()>,
    syncer: std::sync::mpsc::SyncSender<Written>,
) {
    // The events recorded last, for the duplicate warning: read from the log once, then kept.
    let recent = {
        let store = shared.store.lock().expect("the store's lock is never poisoned");
        finsam_app::record::recent_events(&store).unwrap_or_default()
    };
    let mut recent: std::collections::VecDeque<Event> = recent.into();
    // What the advisor learnt, kept from group to group while it stays right (see AdviceCache).
    let mut cache: Option<finsam_projections::advice::AdviceCache> = None;
    // On a database, the writer also takes in what other instances commit: when it is idle,
    // every FOLLOW_EVERY, and before each group.
    let following = shared.directory.is_some();
    let waiting = match tokio::runtime::Builder::new_current_thread().enable_time().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("the writer cannot wait for requests: {e}");
            return;
        }
    };
    loop {
        let first = match following {
            false => queue.blocking_recv(),
            // A request, or a hint that another instance committed, or a second gone by.
            true => match waiting.block_on(async {
                tokio::select! {
                    biased;
                    job = queue.recv() => Some(job),
                    _ = nudged.recv() => None,
                    _ = tokio::time::sleep(FOLLOW_EVERY) => None,
                }
            }) {
                Some(job) => job,
                None => {
                    while nudged.try_recv().is_ok() {}
                    if !keep_up(&shared, &syncer, &mut cache).unwrap_or(true) {
                        return;
                    }
                    continue;
                }
            },
        };
        let Some(first) = first else { return };
        let mut jobs = vec![first];
        while jobs.len() < GROUP_MAX {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        // What other instances committed is taken in before the group is checked and advised,
        // so that its warnings count every acknowledged event (and again by the group's own
        // write, under the head's lock, for what commits in between).
        if following {
            match keep_up(&shared, &syncer, &mut cache) {
                Ok(true) => {}
                Ok(false) => return,
                // The store cannot be opened again yet (the database is away): answered at once.
                Err(e) => {
                    let head = shared.snapshot().head.clone();
                    for job in jobs {
                        let _ = job.reply.send((Err(e.again()), Vec::new(), head.clone()));
                    }
                    continue;
                }
            }
        }
        // Checks only: answered against the books as they stand, in queue order, nothing written.
        let (checks, writes): (Vec<WriteJob>, Vec<WriteJob>) = jobs.into_iter().partition(|j| j.check_only);
        if !checks.is_empty() {
            let store = shared.store.lock().expect("the store's lock is never poisoned");
            for job in checks {
                let checked = store.check(&job.batch, Some(&job.user));
                let mut advisor =
                    finsam_projections::advice::Advisor::new(store.projection(), recent.make_contiguous());
                let warnings = finsam_app::record::advise_group(&mut advisor, &store, &[job.batch.as_slice()])
                    .pop()
                    .unwrap_or_default();
                let _ = job.reply.send((checked.map(|()| Vec::new()), warnings, store.head().clone()));
            }
        }
        let jobs = writes;
        if jobs.is_empty() {
            continue;
        }
        if let Some(reason) = shared.failed.lock().expect("the lock is never poisoned").clone() {
            for job in jobs {
                let refused = Err(StoreError::Poisoned { reason: reason.clone() });
                let _ = job.reply.send((refused, Vec::new(), shared.snapshot().head.clone()));
            }
            continue;
        }
        let mut store = shared.store.lock().expect("the store's lock is never poisoned");
        let batches: Vec<&[(usize, Event)]> = jobs.iter().map(|j| j.batch.as_slice()).collect();
        let mut advisor = match cache.take() {
            Some(c) => finsam_projections::advice::Advisor::resume(store.projection(), c),
            None => finsam_projections::advice::Advisor::new(store.projection(), recent.make_contiguous()),
        };
        let warnings = finsam_app::record::advise_group(&mut advisor, &store, &batches);
        let learnt = advisor.into_cache();
        let requests: Vec<finsam_store::GroupRequest<'_>> = jobs
            .iter()
            .map(|j| finsam_store::GroupRequest {
                batch: &j.batch,
                actor: &j.actor,
                expect_head: j.expect_head,
                expect_versions: &j.expect_versions,
                user: Some(&j.user),
            })
            .collect();
        let started = Instant::now();
        // Before a byte of the group is written, the access log says who records which seqs
        // (status 202: written, to be made durable): no event is in the log, even after a
        // kill -9, without a line naming who recorded it. The request's own line (its status,
        // 201 once durable) follows when it is answered.
        let (results, envelopes) = store.write_group_with(&requests, |results| {
            let intents: Vec<Access> = jobs.iter().zip(results).filter_map(|(j, r)| intent(j, r)).collect();
            if intents.is_empty() {
                return Ok(());
            }
            let mut access = shared.access.lock().expect("the access log's lock is never poisoned");
            access.append_all(&intents).map(|_| ()).map_err(|e| e.to_string())
        });
        shared.metrics.write.observe(started.elapsed());
        if following && results.iter().any(|r| r.is_ok()) {
            // The group's write held the head's lock and took in everything before it.
            shared.confirm_current();
        }
        let head = store.head().clone();
        // The cache stays right only if every batch it advised was recorded and it followed
        // every event's effect exactly: this instance's (advised) and, on a database, those
        // other instances committed, which this group's write took in first (followed now);
        // and it is renewed before it recognises far more events than the recent ones.
        let own: usize = results.iter().flatten().map(|r| r.iter().filter(|x| !x.duplicate).count()).sum();
        let exact = results.iter().all(|r| r.is_ok())
            && envelopes.len() >= own
            && jobs.iter().all(|j| j.batch.iter().all(|(_, e)| finsam_projections::advice::tracks_exactly(e)));
        let taken_in = &envelopes[..envelopes.len().saturating_sub(own)];
        cache = exact
            .then(|| learnt.follow(store.projection(), taken_in.iter().map(|e| &e.event)))
            .flatten()
            .filter(|c| c.seen() <= 2 * RECENT_EVENTS);
        drop(store);
        for (job, result) in jobs.iter().zip(&results) {
            if result.is_ok() {
                recent.extend(job.batch.iter().map(|(_, e)| e.clone()));
            }
        }
        while recent.len() > RECENT_EVENTS {
            recent.pop_front();
        }
        let outcomes = results.into_iter().zip(warnings).collect();
        if syncer.send(Written { jobs, outcomes, head, envelopes }).is_err() {
            return;
        }
    }
}

/// How often an idle instance on a database looks for what other instances committed, whether
/// or not it heard a notification (the durable cursor is its copy's head: a notification lost
/// makes it look late, never miss anything).
pub(crate) const FOLLOW_EVERY: Duration = Duration::from_secs(1);

/// Keeps an instance on a database up with it: opens the store again if a commit that could
/// not be confirmed stopped it, then takes in what other instances committed and hands it to
/// the syncer, for the readers' snapshots and the subscribers. `Ok(false)` when the syncer is
/// gone; an error when the store cannot be opened again yet.
fn keep_up(
    shared: &Shared_,
    syncer: &std::sync::mpsc::SyncSender<Written>,
    cache: &mut Option<finsam_projections::advice::AdviceCache>,
) -> Result<bool, StoreError> {
    match reopen_if_stopped(shared, syncer) {
        Ok(Kept::Open) => {}
        // The books were built anew: the advisor's cache followed the old ones.
        Ok(Kept::Reopened) => *cache = None,
        Ok(Kept::SyncerGone) => return Ok(false),
        Err(e) => {
            *cache = None;
            return Err(e);
        }
    }
    let mut store = shared.store.lock().expect("the store's lock is never poisoned");
    let followed = store.follow();
    if followed.is_ok() {
        shared.confirm_current();
    }
    match followed {
        Ok(envelopes) if envelopes.is_empty() => Ok(true),
        Ok(envelopes) => {
            // The advisor's cache follows what other instances committed.
            *cache = cache.take().and_then(|c| c.follow(store.projection(), envelopes.iter().map(|e| &e.event)));
            let head = store.head().clone();
            drop(store);
            shared.metrics.events_taken_in.inc_by(envelopes.len() as u64);
            Ok(syncer.send(Written { jobs: Vec::new(), outcomes: Vec::new(), head, envelopes }).is_ok())
        }
        // The database cannot be reached: reads go on from what this instance has; writes are
        // answered 503 until it can be again (the group's own look at the database says so).
        Err(e) => {
            tracing::debug!("{e}");
            Ok(true)
        }
    }
}

/// What `reopen_if_stopped` found.
enum Kept {
    /// The store was open and writing.
    Open,
    /// The store had stopped and was opened again.
    Reopened,
    /// The syncer is gone: the writer ends.
    SyncerGone,
}

/// Opens the store again if a commit that could not be confirmed stopped it, and hands the
/// readers what they lack.
fn reopen_if_stopped(shared: &Shared_, syncer: &std::sync::mpsc::SyncSender<Written>) -> Result<Kept, StoreError> {
    let mut store = shared.store.lock().expect("the store's lock is never poisoned");
    // A store stopped by a commit it could not confirm is opened again; one the scrub found
    // damaged stays stopped (opening it again would trust the checkpoint over the damage).
    if store.stopped().is_some() && shared.damaged.lock().expect("the lock is never poisoned").is_none() {
        let seen = shared.snapshot().head.seq;
        store.reopen_mirrored()?;
        let head = store.head().clone();
        tracing::info!("the store was opened again at {head}");
        // What the readers' snapshots lack (the syncer skips what they have).
        let mut envelopes = Vec::new();
        store.read(seen + 1, head.seq, &mut |e| {
            envelopes.push(e);
            Ok(())
        })?;
        drop(store);
        if !envelopes.is_empty()
            && syncer.send(Written { jobs: Vec::new(), outcomes: Vec::new(), head, envelopes }).is_err()
        {
            return Ok(Kept::SyncerGone);
        }
        return Ok(Kept::Reopened);
    }
    Ok(Kept::Open)
}

/// The access-log line written before a batch's events are: who, through which route, in which
/// förbund's books, the seqs (202: written, to be made durable). None for a batch refused or
/// only repeating events already recorded.
pub(crate) fn intent(job: &WriteJob, outcome: &Result<Vec<finsam_store::Recorded>, StoreError>) -> Option<Access> {
    let seqs: Vec<u64> = outcome.as_ref().ok()?.iter().filter(|r| !r.duplicate).map(|r| r.seq).collect();
    if seqs.is_empty() {
        return None;
    }
    let mut forbund: Vec<&str> = job.batch.iter().map(|(_, e)| e.forbund.as_str()).collect();
    forbund.sort_unstable();
    forbund.dedup();
    Some(Access {
        user: Some(job.actor.clone()),
        method: "POST".into(),
        route: job.route.into(),
        forbund: Some(forbund.join(",")),
        status: 202,
        seqs,
    })
}

/// How many snapshots the syncer keeps besides the one readers see, to bring up to date while
/// readers finish with the older ones. When all are in use it makes one more.
pub(crate) const SNAPSHOTS_SPARE: usize = 3;

/// How long the syncer waits at least for a reader to let go of a spare snapshot before it
/// makes one. It waits longer when the last copy took longer: a copy costs as much as the books
/// are big, and a reader holds a spare only while it computes one answer, so on large books
/// waiting is the cheaper way.
pub(crate) const SPARE_WAIT: Duration = Duration::from_millis(20);

/// The syncer (a thread of its own): makes the groups the writer wrote durable — every group
/// waiting shares one fdatasync — then shows them to readers (a new snapshot) and answers each
/// batch. If an fdatasync fails, it answers every batch it holds with the failure, and nothing
/// is acknowledged from then on.
pub(crate) fn syncer(shared: Shared_, file: std::fs::File, written: std::sync::mpsc::Receiver<Written>) {
    let mut spares: Vec<Arc<Snapshot>> = Vec::new();
    // What the last copy of a snapshot took: the longest the syncer waits for a spare.
    let mut copy_took = SPARE_WAIT;
    // The envelopes the oldest spare lacks.
    let mut tail: std::collections::VecDeque<finsam_store::Envelope> = Default::default();
    while let Ok(first) = written.recv() {
        let mut groups = vec![first];
        while let Ok(g) = written.try_recv() {
            groups.push(g);
        }
        let fresh: usize = groups.iter().map(|g| g.envelopes.len()).sum();
        let mut failure = shared.failed.lock().expect("the lock is never poisoned").clone();
        // On a database the commit made the group durable; this instance's copy is not
        // fsynced (a copy cut short by a crash is taken in again from the database).
        if fresh > 0 && failure.is_none() && shared.directory.is_none() {
            let started = Instant::now();
            if let Err(e) = file.sync_data() {
                // No retry: the kernel may have dropped the dirty pages (see FileLog::append).
                let reason =
                    format!("fdatasync of the log failed ({e}); nothing more is recorded until the store is reopened");
                tracing::error!("{reason}");
                *shared.failed.lock().expect("the lock is never poisoned") = Some(reason.clone());
                failure = Some(reason);
            }
            shared.metrics.fdatasync.observe(started.elapsed());
            shared.metrics.groups.inc();
        }
        if shared.directory.is_some() {
            // Each group in which this instance recorded something new was one commit (what
            // it took in from other instances comes without outcomes of its own).
            let committed = groups
                .iter()
                .filter(|g| g.outcomes.iter().any(|(o, _)| o.as_ref().is_ok_and(|r| r.iter().any(|r| !r.duplicate))));
            shared.metrics.groups.inc_by(committed.count() as u64);
        }
        if failure.is_none() && fresh > 0 {
            tail.extend(groups.iter_mut().flat_map(|g| std::mem::take(&mut g.envelopes)));
            // A spare no reader holds any more: readers hold one only while they compute, so
            // one is soon free; only if none is within what the last copy took (at least
            // SPARE_WAIT) is a new one made (a copy of the books, which costs as much as the books
            // are big).
            let started = Instant::now();
            let free = loop {
                if let Some(i) = spares.iter_mut().position(|s| Arc::get_mut(s).is_some()) {
                    break Some(spares.swap_remove(i));
                }
                if spares.is_empty() || started.elapsed() > copy_took {
                    break None;
                }
                std::thread::sleep(Duration::from_micros(50));
            };
            let mut next = free.unwrap_or_else(|| {
                let copying = Instant::now();
                let copy = Arc::new((*shared.snapshot()).clone());
                copy_took = copying.elapsed().max(SPARE_WAIT);
                copy
            });
            Arc::get_mut(&mut next).expect("no reader holds a spare").advance(tail.iter());
            let old = std::mem::replace(&mut *shared.snapshot.write().expect("never poisoned"), next);
            spares.push(old);
            // Keep the newest spares; a reader still holding a dropped one frees it when done.
            spares.sort_by_key(|s| std::cmp::Reverse(s.head.seq));
            spares.truncate(SNAPSHOTS_SPARE);
            let oldest = spares.iter().map(|s| s.head.seq).min().unwrap_or(u64::MAX);
            while tail.front().is_some_and(|e| e.seq <= oldest) {
                tail.pop_front();
            }
        }
        let mut recorded = 0;
        let mut head = 0;
        for g in groups {
            head = g.head.seq;
            for (job, (result, warnings)) in g.jobs.into_iter().zip(g.outcomes) {
                let result = match (&failure, result) {
                    (Some(reason), Ok(_)) => Err(StoreError::Poisoned { reason: reason.clone() }),
                    (_, r) => r,
                };
                if let Ok(list) = &result {
                    recorded += list.iter().filter(|r| !r.duplicate).count() as u64;
                    shared.metrics.batches.inc();
                }
                let _ = job.reply.send((result, warnings, g.head.clone()));
            }
        }
        if recorded > 0 {
            shared.metrics.events_appended.inc_by(recorded);
        }
        // Subscribers hear of every event made durable: this instance's and, on a database,
        // what other instances committed.
        if fresh > 0 && failure.is_none() {
            let _ = shared.heads.send(head);
        }
    }
}
