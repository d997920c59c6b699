/*
 * fencing.pml: squirrel's epochs, leases, durable position and handover (issue 9), for spin.
 *
 * Safety properties, each checked under its own switch (one run per switch, see README.md):
 *   PROP_DURABLE        the durable position never names a missing object, and never moves back
 *   PROP_HANDOVER       after a claim of n+1, a restore uses exactly epoch n's promise: no
 *                       epoch-n object past the handover, none missing before it (no refusal)
 *   PROP_ONE_ADVANCER   at most one agent advances an epoch
 *   PROP_FENCED_WRITES  a fenced server takes no write that a restore would keep
 *
 * The protocol comes from DESIGN.md (words, contracts, invariants 2 and 4) and issue 9; the
 * steps carry the code's names (agent/cluster/transition.ts and repo.ts, agent/stream/streamer.ts,
 * shipper.ts, chain.ts). Where issue 9 specifies a step the code does not have yet, the model follows the
 * issue and a protocol switch (default on) names it; turning it off models the code before it.
 *
 * Bounds (small on purpose: the four checks and five mutations run in about 35 s on 2 cores):
 *   NA = 2 agent slots. Epoch e's primary is slot (e-1) % NA, so epoch 3 is a replacement
 *        instance in slot 0 with slot 0's holder id (a fixed agentId, as in local mode).
 *   NE = 3 epochs: two claims, enough for a handover to move from the state item to a history
 *        item and for a holder id to come back.
 *   NS = 2 chunks per epoch (one transaction each; 1 in epoch 3, CAP): enough for "K+1 in
 *        flight, K+2 stored" and for a late write to meet a reused holder id.
 *   MAXCRASH = 1 crash (and supervisor restart) of slot 0's agent, MAXCRASH1 = 0 of slot 1's
 *        (slot 0 is the one whose holder id comes back), 1 for the claimer; one write to a
 *        fenced server (clients).
 * Failures modelled: a crash at any step (the supervisor restarts the agent with a new process
 * token), state writes that land after their process died, uploads out of order (s+2 stored
 * while s+1 is not, or never), responses lost after the write landed (recognised by the write's
 * own token: own-write.ts), lease expiry at any time, a claimer crashing between the claim and
 * the history write, a StopInstances that never lands.
 * Simplifications: a restore reads the state item, the history items and the object listing in
 * one step (the real reads are separate; objects at or below a durable position are never
 * deleted, so a later listing holds at least what an earlier state read promised); an agent that
 * exits after a fence is restarted with the same process token (only a crash makes a new one;
 * a late state write exists only after a crash here).
 */

#define NA 2
#ifndef NE
#define NE 3
#endif
#define NS 2
#ifndef MAXCRASH
#define MAXCRASH 1
#endif
#ifndef MAXCRASH1
#define MAXCRASH1 0
#endif
#define NONE 255

/* ---- protocol switches: 1 = the protocol issue 9 specifies; 0 = the code before it (see README) ---- */
#ifndef JOIN_CHECKS_OWNER
#define JOIN_CHECKS_OWNER 1   /* item 2: only the primary the claim names joins an epoch */
#endif
#ifndef LEASE_TOKEN
#define LEASE_TOKEN 1         /* item 5: the lease (and so the advance) carries a per-process token */
#endif
#ifndef SELF_FENCE
#define SELF_FENCE 1          /* item 4: an agent that cannot renew for leaseMs fences its server */
#endif

/* ---- mutations: each drops one guard; the test shows spin then finds a violation ---- */
/* NO_ADV_EPOCH_COND   advance() without its epoch condition                     */
/* NO_CLAIM_SEQ_COND   claimNextEpoch() without its durable-seq condition         */
/* NO_OWNER_CHECK      join without the primary-identity check (the older code)    */
/* READER_TO_NEWEST    promisedChain() reads an older epoch to its newest object  */
/*                     (the reader before handovers)                               */
#ifdef NO_OWNER_CHECK
#undef JOIN_CHECKS_OWNER
#define JOIN_CHECKS_OWNER 0
#endif

/* the guards the switches and mutations act on (a newline ends a Promela expression, so each is one macro) */
#if JOIN_CHECKS_OWNER
#define OWNER_OK(i) (OWNER(epoch) == (i))
#else
#define OWNER_OK(i) true
#endif
#if LEASE_TOKEN
#define LEASE_TOKEN_OK(t) (leaseTok == (t))
#else
#define LEASE_TOKEN_OK(t) true
#endif
#ifdef NO_ADV_EPOCH_COND
#define ADV_EPOCH_OK(e) true
#else
#define ADV_EPOCH_OK(e) (epoch == (e))
#endif
#ifdef NO_CLAIM_SEQ_COND
#define CLAIM_SEQ_OK(seen) true
#else
#define CLAIM_SEQ_OK(seen) (durableSeq == (seen))
#endif

/* ghosts are kept only in the run whose property reads them: fewer states */
#ifdef PROP_FENCED_WRITES
#define MARK_LATE(k, v) late[k] = (v)
#else
#define MARK_LATE(k, v) skip
#endif
#ifdef PROP_HANDOVER
#define MARK_PROMISED(e, s) if :: promised[e] < (s) -> promised[e] = (s) :: else -> skip fi
#else
#define MARK_PROMISED(e, s) skip
#endif
#ifdef PROP_ONE_ADVANCER
#define MARK_ADVANCER(e, h) advancedBy[e] = (h)
#else
#define MARK_ADVANCER(e, h) skip
#endif

#define IDX(e, s) ((e) * (NS + 1) + (s))
/* chunks epoch e may hold: NS, but 1 in epoch 3 (enough for a reused holder id to advance once) */
#define CAP(e) ((e) < 3 -> NS : 1)
#define OWNER(e) (((e) - 1) % NA)
/* the process token of agent slot i: a restarted process (after a crash) has a new one */
#define PTOK (i * (MAXCRASH + 2) + crashes[i] + 1)

/* ---- the state item (DynamoDB); every step below that touches it is one conditional write ---- */
byte epoch = 1;            /* current epoch (claimFirstEpoch already ran) */
byte durableSeq = 0;       /* seq of the last durable chunk of the current epoch */
byte dEpoch = 0;           /* durable position: epoch and seq of the last durable chunk (0: none) */
byte dSeq = 0;
byte durableTok = 0;       /* durableBy.token: which process wrote it */
byte leaseHolder = 0;      /* slot + 1; 0: nobody */
byte leaseTok = 0;         /* the holder's process token (LEASE_TOKEN) */
bool leaseLive = false;    /* false once expired (abstract time) */
byte stateHandover = NONE; /* handover of epoch - 1 (its durable seq then), in the state item */
byte claimTok = 0;
/* history items: handover of each epoch, once recorded there */
byte histHandover[NE + 1];

/* ---- the object store (S3): one chunk per (epoch, seq); chunk s holds transaction s ---- */
bool stored[(NE + 1) * (NS + 1)];

/* ---- the servers: epoch e's primary (a new instance per epoch) ---- */
byte binlog[NE + 1];       /* transactions taken */
bool readOnly[NE + 1];
bool late[(NE + 1) * (NS + 1)]; /* ghost: transaction taken after its epoch was claimed away */

/* ---- a state write in flight: sent by an agent, applied (or refused) whenever the network says ---- */
typedef Advance { bool valid; byte e; byte s; byte holder; byte tok };
Advance flight[NA];

/* ---- ghosts for the properties ---- */
byte promised[NE + 1];     /* the highest durable seq epoch e ever reached */
byte advancedBy[NE + 1];   /* slot + 1 of the first agent that advanced epoch e */
byte crashes[NA];
byte maxCrash[NA];   /* per slot: MAXCRASH for slot 0, MAXCRASH1 for slot 1 */

/* ClusterStateRepo.advance: one conditional write (epoch, durable seq, lease holder [and token]). */
inline advance(ae, as, aholder, atok, landed) {
  landed = false;
  if
  :: ADV_EPOCH_OK(ae) && durableSeq == as - 1 && leaseHolder == aholder && LEASE_TOKEN_OK(atok) ->
#ifdef PROP_DURABLE
      assert(stored[IDX(ae, as)]);                           /* names an object that is there */
      assert(ae > dEpoch || (ae == dEpoch && as > dSeq));   /* moves only forward */
#endif
#ifdef PROP_ONE_ADVANCER
      assert(advancedBy[ae] == 0 || advancedBy[ae] == aholder);
#endif
      MARK_ADVANCER(ae, aholder);
      durableSeq = as; dEpoch = ae; dSeq = as; durableTok = atok;
      MARK_PROMISED(ae, as);
      landed = true
  :: else -> skip
  fi
}

/* An agent process for one server slot, restarted by its supervisor after every crash or exit. */
proctype agent(byte i) {
  byte me = i + 1;
  byte e; byte s; byte j; bool ok;
restart:
  /* join: acquireLease, under the epoch it reads; the same holder takes it back at once */
  atomic {
    (leaseHolder == 0 || leaseHolder == me || !leaseLive) && OWNER_OK(i) ->
    leaseHolder = me; leaseTok = PTOK; leaseLive = true;
    e = epoch; s = durableSeq;
    /* removeStrays: delete this epoch's objects past the durable position (the next step of run()) */
    j = s + 1; do :: j <= NS -> stored[IDX(e, j)] = false; j++ :: else -> break od; j = 0
  }
  do
  /* the server takes a transaction while writable; the chunker cuts one chunk per transaction */
  :: atomic { binlog[e] < CAP(e) && !readOnly[e] -> binlog[e]++; MARK_LATE(IDX(e, binlog[e]), epoch > e) }
  /* Shipper.submit: uploads overlap, so chunk s+2 may be stored while s+1 is not (yet, or ever:
   * an upload that is still in flight when its process dies, or lands after it) */
  :: atomic { s < binlog[e] && !stored[IDX(e, s + 1)] -> stored[IDX(e, s + 1)] = true }
  :: atomic { s + 2 <= binlog[e] && !stored[IDX(e, s + 2)] -> stored[IDX(e, s + 2)] = true }
  /* Shipper: advance over the next chunk once its upload resolved */
  :: s < NS && stored[IDX(e, s + 1)] ->
     if
     :: atomic { advance(e, s + 1, me, PTOK, ok) }            /* answered */
     :: atomic { advance(e, s + 1, me, PTOK, ok);  /* landed or not, the answer lost: re-read, isOwnAdvance */
                 ok = (epoch == e && durableSeq == s + 1 && dEpoch == e && durableTok == PTOK) }
     :: crashes[i] < maxCrash[i] && !flight[i].valid ->          /* sent, and the process dies before it lands */
        atomic { flight[i].valid = true; flight[i].e = e; flight[i].s = s + 1; flight[i].holder = me; flight[i].tok = PTOK;
                 crashes[i]++; goto restart }
     fi;
     if
     :: ok -> s++
     :: else -> goto fence   /* the condition failed and it is not ours: fenced or lease lost */
     fi
  /* heartbeat: renews the lease under (epoch, holder), learning of a fence; renewal in time is
   * abstracted away: the clock expires a lease only when a renewal was late */
#if !SELF_FENCE
  /* without self-fencing: a heartbeat renews an expired lease that nobody else took */
  :: atomic { epoch == e && leaseHolder == me && !leaseLive -> leaseLive = true }
#endif
  :: atomic { epoch != e || leaseHolder != me || !LEASE_TOKEN_OK(PTOK) -> goto fence }
#if SELF_FENCE
  /* self-fence: no renewal for leaseMs (its own timer runs out before the store's lease expiry) */
  :: atomic { !leaseLive -> readOnly[e] = true; goto restart }
#endif
  /* a crash at any step; the supervisor starts it again */
  :: crashes[i] < maxCrash[i] -> crashes[i]++; goto restart
  od;
fence:
  /* fenced: the server read-only first, then nothing more is uploaded; exit (supervisor restarts) */
  readOnly[e] = true;
  goto restart
}

/* The network: a state write in flight lands whenever, even after its sender died (the SDK's
 * request was sent; the process was killed before the answer). */
active proctype network() {
  bool ok;
  do
  :: atomic { flight[0].valid -> advance(flight[0].e, flight[0].s, flight[0].holder, flight[0].tok, ok); flight[0].valid = false; ok = false }
  :: atomic { flight[1].valid -> advance(flight[1].e, flight[1].s, flight[1].holder, flight[1].tok, ok); flight[1].valid = false; ok = false }
  od
}

/* The clients of a fenced primary: a server whose epoch was claimed away takes a write while it
 * is not read-only (the current epoch's writes are taken in the agent's upload step). */
#ifdef PROP_FENCED_WRITES
active
#endif
proctype clients() {
  byte e; bool wrote;
  /* one write to a fenced server (a bound: more repeat the same case) */
  do
  :: wrote -> break
  :: atomic { !wrote && epoch > 1 -> e = 1;
              do :: e < epoch -> if :: !readOnly[e] && binlog[e] < CAP(e) -> binlog[e]++; MARK_LATE(IDX(e, binlog[e]), true); wrote = true; break :: else -> e++ fi
                 :: else -> break od; e = 0 }
  od
}

/* Lease expiry: the holder did not renew in time (slow, partitioned, dead). */
active proctype clock() {
  do
  :: atomic { leaseLive -> leaseLive = false }
  od
}

/* The control plane's failover: claimNextEpoch (ClaimNextEpoch in the workflow), then fence old. */
active proctype claimer() {
  byte from; byte seenSeq; byte ho; byte tok = 1; byte crashed = 0; bool ok;
  do
  :: epoch < NE ->
     /* item 4: claim only after the lease expired (plus a margin the agent's self-fence fits in) */
     atomic { !leaseLive -> from = epoch; seenSeq = durableSeq;
              ho = (dEpoch == from -> dSeq : 0);
              /* recordHandover: the state item's previous handover is copied to its history item
               * first (idempotent; one step with the read here, as nothing else writes it) */
              if :: stateHandover != NONE -> histHandover[from - 1] = stateHandover :: else -> skip fi }
     /* the one conditional write: epoch, lease cleared, handover */
     atomic {
       if
       :: epoch == from && CLAIM_SEQ_OK(seenSeq) -> epoch = from + 1; durableSeq = 0; leaseHolder = 0; leaseTok = 0; leaseLive = false;
             stateHandover = ho; claimTok = tok; ok = true
       :: else -> ok = (epoch == from + 1 && claimTok == tok)  /* isOwnClaim after a lost answer */
       fi }
     if
     :: ok ->
        tok++;
        if
        :: crashed < MAXCRASH -> crashed++   /* crash before the history write: the next claim repairs it */
        :: histHandover[from] = stateHandover
        fi;
        /* fence old: StopInstances may hang; it lands some time, or never */
        if :: readOnly[from] = true :: skip fi
     :: else -> skip   /* an advance landed in between: read again (the same claim token) */
     fi;
     from = 0; seenSeq = 0; ho = 0; ok = false
  :: else -> break
  od
}

/* A restore (or verify, or the fake primary): reads the state and history items, then the chain. */
active proctype restore() {
  byte re; byte rdEpoch; byte rdSeq; byte e; byte s; byte last; byte ho;
  do
  :: atomic {
       /* reads the state item and the history items, then lists the objects (one step here: see README) */
       re = epoch; rdEpoch = dEpoch; rdSeq = dSeq;
       e = 1;
       do
       :: e <= re ->
          /* where the promise of epoch e ends: the state item holds the previous epoch's handover */
          ho = (e == re - 1 -> stateHandover : histHandover[e]);
          if
          :: e == re -> last = (rdEpoch == e -> rdSeq : 0)
#ifndef READER_TO_NEWEST
          :: e < re && ho != NONE -> last = ho
#endif
          :: else ->   /* no handover recorded: to the newest object, with a warning */
             last = NS; do :: last > 0 && !stored[IDX(e, last)] -> last-- :: else -> break od
          fi;
#ifdef PROP_HANDOVER
          assert(e == re || last == promised[e]);   /* exactly epoch e's promise */
#endif
          s = 1;
          do
          :: s <= last ->
#if defined(PROP_HANDOVER) || defined(PROP_DURABLE)
             assert(stored[IDX(e, s)]);             /* a promised chunk is never missing: no refusal */
#endif
#ifdef PROP_FENCED_WRITES
             assert(!late[IDX(e, s)]);              /* no write taken after the claim is kept */
#endif
             s++
          :: else -> break
          od;
          e++
       :: else -> break
       od;
       re = 0; rdEpoch = 0; rdSeq = 0; e = 0; s = 0; last = 0; ho = 0 }
  od
}

init {
  byte e;
  atomic {
    e = 0; do :: e <= NE -> histHandover[e] = NONE; e++ :: else -> break od;
    maxCrash[0] = MAXCRASH; maxCrash[1] = MAXCRASH1;
    run agent(0); run agent(1)
  }
}
