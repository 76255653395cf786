/*
 * The placement and follow protocol (v2) of one trade intent, as a Promela model.
 *
 * What each process stands for (docs/model.md says what is left out and why):
 *   clock()     the passage of time; at each tick the exchange's matching engine may execute
 *               a request still inside its horizon, a resting LIMIT may fill, an operator
 *               may cancel the intent or reset the workflow.
 *   temporal()  the Temporal server's side of the placement activity: dispatch, the
 *               heartbeat timeout, the schedule-to-close window, the retry policy.
 *   attempt()   one attempt of activities/placement.py place_exactly_once on a worker.
 *   workflow()  workflows/trade_intent.py: run, _place, _follow, _settle (cancel_order and
 *               activities/placement.py reconcile).
 *
 * Time is discrete (one tick = UNIT_MS milliseconds, constants.pml). A step takes no time;
 * time passes only when every process waits (Spin's `timeout`), so a process lets time pass
 * only where it waits for a timer, for a freeze to end, or for the exchange.
 * Every timestamp is kept as a countdown ("ticks until") or a count-up ("ticks since") so
 * that states differing only in the absolute time are one state; `t_now` is for the trace.
 * True time is Temporal's clock; the exchange's clock is the same clock (the signing offset
 * is exact), a worker's local clock is off by d, |d| <= SKEW.
 *
 * Properties (assertions, each printed with its name before it fails):
 *   P1 at most one order executes per client order ID;
 *   P2 the intent never ends while its order is live, and no order executes after an end;
 *   P3 the intent ends within BOUND ticks of its (last) run's start.
 *
 * Sabotage flags (spin -D...), each must give a counterexample:
 *   NO_UNKNOWN_WAIT  no wait after an unknown outcome (an earlier send's horizon is ignored)
 *   STALE_HORIZON    the v1 rule: the attempt waits inside itself under a "clear"-like record,
 *                    then sends; the next attempt trusts that waiting record
 *   NO_LOOKUP        no lookup before a re-send
 *   SETTLE_TRUSTS    the reconcile trusts "not found" at once
 *   NO_CUTOFF        no send cutoff: a zombie attempt sends whenever it gets to it
 *   NO_RESET_WAIT    a reset run waits for nothing the old run sent
 *   RESET_FLOOR_FIRST_ONLY  the reset floor only on attempt 1 (protocol before REVISION 1)
 *   SKEW_BEYOND_TOL  worker clocks may be off by more than CLOCK_TOLERANCE (the clock check
 *                    alone must then keep the protocol safe)
 */

#include "constants.pml"

#ifndef MAXATT
#define MAXATT 3            /* attempts of one placement (the window allows more) */
#endif
#ifndef MAXRESETS
#define MAXRESETS 1         /* workflow resets by an operator */
#endif
#ifndef MAXFAULTS
#define MAXFAULTS 2         /* crashes, freezes, partitions and lost heartbeats, in all */
#endif
#ifndef FREEZE_MAX
#define FREEZE_MAX (2 * HBT) /* longest freeze of a worker, in ticks */
#endif
#ifdef SKEW_BEYOND_TOL
#define SKEW (TOL + MARGIN)
#else
#define SKEW TOL
#endif

#define LOW (-(SKEW + 2))   /* countdowns stop here: every comparison is decided below it */
#define CAP (WINDOW + H + HBT + 2 * SKEW + 8)  /* count-ups stop here */
#define NSLOT (MAXATT * (MAXRESETS + 1))
#define NONE LOW            /* "no horizon" */

/* P3: the intent ends within this many ticks of its run's start (docs/model.md). */
#ifndef BOUND
#define BOUND (WINDOW + HBT + RETRY_MAX + 2 * TOL + HBT + H + PAD + MAXFAULTS * (FREEZE_MAX + HBT + RETRY_MAX) + 2)
#endif

/* the exchange's order under the client order ID */
#define O_NONE 0
#define O_OPEN 1
#define O_FILLED 2
#define O_CANCELED 3
/* the placement activity on the server */
#define A_IDLE 0
#define A_BACKOFF 1
#define A_STARTED 2
#define A_OK 3
#define A_FAIL 4
#define A_REJECTED 5
/* how an attempt ends */
#define R_OK 0
#define R_RETRY 1
#define R_REJECTED 2
/* the intent's end */
#define E_FILLED 1
#define E_CANCELLED 2
#define E_EXPIRED 3
#define E_FAILED 4
#define E_REJECTED 5
/* why the workflow settles (workflows/trade_intent.py Cause) */
#define C_FAILURE 0
#define C_CANCEL 1
#define C_DEADLINE 2

mtype = { NOREC, SENDING, REFUSED, CLEAR };  /* activities/placement.py RecordKind */

hidden short t_now;           /* absolute time in ticks: trace output only, not in the state */
byte faults;
byte wrun;                  /* the workflow run: 0, then one more per reset */
bool cancel_req;
bool following;             /* _follow runs: a cancel sent earlier waits in the signal queue until then */
bool ended;
byte end_state;
short since_run;            /* P3 */
short deadline_left;

/* exchange */
byte order;
short rq_rem[NSLOT] = LOW;        /* request of attempt slot i: ticks until stamp + H; LOW = dead */

/* Temporal: the current run's placement activity */
byte act;
byte att;
byte cur;                   /* slot of the current attempt */
short retry_left;
short hb_left;
short since_first;          /* since the activity's first scheduling */
mtype rec_kind = NOREC;     /* the last heartbeat details the server holds */
byte rec_att;
short rec_until = NONE;

/* attempts, one slot each (slot = run * MAXATT + attempt - 1) */
bool a_alive[NSLOT];
bool a_part[NSLOT];         /* cut off from Temporal, still reaching the exchange */
short a_started[NSLOT] = LOW;     /* since the server started it */
short a_sf[NSLOT] = LOW;          /* since its activity's first scheduling */
short a_cut[NSLOT] = LOW;
short a_allow[NSLOT];       /* the clock allowance of its E(S) (refuse_on_clock_skew) */         /* until its send cutoff (true time) */
short a_thr[NSLOT] = LOW;         /* until the SDK may send the next heartbeat (throttle) */
mtype a_pk[NSLOT] = NOREC;  /* heartbeat held back by the throttle */
short a_pu[NSLOT] = LOW;
short a_wait[NSLOT] = LOW;        /* a freeze, or a wait inside the attempt */
short a_stamp[NSLOT] = LOW;       /* until stamp + H of its send */
mtype a_rk[NSLOT] = NOREC;  /* heartbeat details it was given at dispatch */
byte a_ra[NSLOT];
short a_ru[NSLOT] = LOW;

inline dec(x) { x = (x > LOW -> x - 1 : x) }
inline inc(x) { x = (x < CAP -> x + 1 : x) }

inline backoff(n, b) {   /* EXCHANGE_RETRY: initial_interval * coefficient^(n-1), capped */
  b = RETRY_INITIAL;
  k = 1;
  do
  :: k < n && b < RETRY_MAX -> b = b * RETRY_COEFF; k++
  :: else -> break
  od;
  b = (b > RETRY_MAX -> RETRY_MAX : b)
}

/* ---- the exchange ---------------------------------------------------------------------- */

inline execute(i) {   /* the matching engine executes the request of attempt slot i */
  if
  :: order == O_OPEN ->
     rq_rem[i] = LOW;
     printf("@@%d exchange refuses the request of attempt %d as a duplicate (order open)\n", t_now, i % MAXATT + 1)
  :: order == O_FILLED || order == O_CANCELED ->
     printf("@@%d exchange executes the request of attempt %d (run %d): a SECOND order\n", t_now, i % MAXATT + 1, i / MAXATT);
     rq_rem[i] = LOW;
     printf("@@PROPERTY P1 violated: two orders executed under one client order ID\n");
     assert(false)
  :: order == O_NONE ->
     if
     :: order = O_FILLED
     :: order = O_OPEN
     fi;
     printf("@@%d exchange executes the request of attempt %d (run %d) stamped at ~%d: order %d\n", t_now, i % MAXATT + 1, i / MAXATT, t_now + rq_rem[i] - H, order);
     rq_rem[i] = LOW;
     if
     :: ended ->
        printf("@@PROPERTY P2 violated: an order executed after the intent ended %d\n", end_state);
        assert(false)
     :: else
     fi
  fi
}

/* ---- heartbeats ------------------------------------------------------------------------ */

inline deliver(i, kind, until) {   /* a heartbeat reaches the server, or not */
  if
  :: a_part[i] ->
     printf("@@%d heartbeat %e of attempt %d lost (worker cut off from Temporal)\n", t_now, kind, i % MAXATT + 1)
  :: !a_part[i] && faults < MAXFAULTS ->
     faults++;
     printf("@@%d heartbeat %e of attempt %d lost\n", t_now, kind, i % MAXATT + 1)
  :: !a_part[i] && i == cur && act == A_STARTED ->
     rec_att = i % MAXATT + 1; rec_kind = kind; rec_until = until; hb_left = HBT;
     printf("@@%d server records heartbeat of attempt %d: %e until=~%d\n", t_now, rec_att, kind, t_now + until)
  :: !a_part[i] && !(i == cur && act == A_STARTED) ->
     printf("@@%d server drops a heartbeat of attempt %d (no longer current)\n", t_now, i % MAXATT + 1)
  fi
}

inline heartbeat(i, kind, until) {   /* activity.heartbeat(Record(...)): sent at once or held */
  if
  :: a_thr[i] <= 0 -> a_thr[i] = HB_THROTTLE; a_pk[i] = NOREC; deliver(i, kind, until)
  :: else -> a_pk[i] = kind; a_pu[i] = until;
     printf("@@%d attempt %d heartbeat %e held by the SDK's throttle\n", t_now, i % MAXATT + 1, kind)
  fi
}

/* ---- Temporal ---------------------------------------------------------------------------- */

inline retry(delay) {   /* the retry policy after a failed or timed-out attempt */
  backoff(att, b);
  b = (delay > 0 -> delay : b);
  if
  :: att >= MAXATT || since_first + b >= WINDOW ->
     act = A_FAIL;
     printf("@@%d placement activity fails: no attempt left in its window\n", t_now)
  :: else ->
     act = A_BACKOFF; retry_left = b;
     printf("@@%d server schedules attempt %d at ~%d\n", t_now, att + 1, t_now + b)
  fi
}

inline report(i, result, delay) {   /* the attempt's completion reaches the server, or not */
  a_pk[i] = NOREC;
  if
  :: a_part[i] -> printf("@@%d completion of attempt %d lost (worker cut off)\n", t_now, i % MAXATT + 1)
  :: !a_part[i] && !(i == cur && act == A_STARTED) ->
     printf("@@%d server ignores the completion of attempt %d (no longer current)\n", t_now, i % MAXATT + 1)
  :: !a_part[i] && i == cur && act == A_STARTED ->
     if
     :: result == R_OK -> act = A_OK
     :: result == R_REJECTED -> act = A_REJECTED
     :: result == R_RETRY -> retry(delay)
     fi
  fi
}

active proctype temporal() {
  short b; byte k; byte i;
end_server:
  do
  :: atomic { act == A_BACKOFF && retry_left <= 0 && since_first < WINDOW ->
       att++;
       i = wrun * MAXATT + att - 1;
       cur = i;
       a_alive[i] = true; a_started[i] = 0; a_sf[i] = since_first; a_thr[i] = 0;
       a_rk[i] = rec_kind; a_ra[i] = rec_att; a_ru[i] = rec_until;
       hb_left = HBT;
       act = A_STARTED;
       printf("@@%d server starts attempt %d of place_order (run %d), given record %e of attempt %d\n", t_now, att, wrun, rec_kind, rec_att);
       run attempt(i, wrun, att, wrun > 0)
     }
  :: atomic { act == A_STARTED && hb_left <= 0 && since_first < WINDOW ->
       printf("@@%d server times attempt %d out (heartbeat timeout)\n", t_now, att);
       retry(0)
     }
  :: atomic { (act == A_STARTED || act == A_BACKOFF) && since_first >= WINDOW ->
       act = A_FAIL;
       printf("@@%d placement activity times out (schedule-to-close)\n", t_now)
     }
  od
}

/* ---- one attempt: activities/placement.py place_exactly_once ----------------------------- */

inline fault(i) {   /* the worker may crash, freeze or lose Temporal here */
  if
  :: skip
  :: faults < MAXFAULTS ->
     faults++;
     if
     :: printf("@@%d worker crashes during attempt %d (held heartbeat lost)\n", t_now, i % MAXATT + 1);
        goto crashed
     :: select(f : 1 .. FREEZE_MAX);
        a_wait[i] = f;
        printf("@@%d worker running attempt %d freezes for ~%d\n", t_now, i % MAXATT + 1, f);
        a_wait[i] <= 0
     :: a_part[i] = true;
        printf("@@%d worker running attempt %d is cut off from Temporal (still reaches the exchange)\n", t_now, i % MAXATT + 1)
     fi
  fi
}

proctype attempt(byte i; byte r; byte n; bool earlier) {
  short d; short hz; short f; short b; byte k;
  bool skip_lookup;
  fault(i);   /* before its code runs: dispatch delay */
  select(d : -SKEW .. SKEW);   /* this worker's clock error against Temporal */
  atomic {
    /* refuse_on_clock_skew: this attempt's reading (local now - started_time) is the clock
       error plus the start delay. A reading behind by more than TOL refuses (the code keeps
       the smallest recent reading; one reading is the model's), so does one past the send
       cutoff; otherwise the allowance A = max(reading, TOL) is how far ahead the clock may
       be, and every E(S) below is S + A - d on the true clock. */
    a_allow[i] = (a_started[i] + d > TOL -> a_started[i] + d : TOL);
#ifdef CHECK_V2
    a_allow[i] = TOL;   /* protocol v2 as first written: refuse any reading past TOL */
    if :: a_started[i] + d > TOL -> a_allow[i] = -1 :: else fi;
#endif
    if
    :: a_started[i] + d < -TOL || a_started[i] + d > HBT - MARGIN || a_allow[i] < 0 ->
       printf("@@%d attempt %d refuse_on_clock_skew: reading %d ticks, nothing sent\n", t_now, n, a_started[i] + d);
       report(i, R_RETRY, 0);
       goto done
    :: else
    fi;
    /* send_cutoff_ms: min(started + HBT, scheduled + schedule_to_close) - MARGIN, local clock */
#ifdef STALE_HORIZON
    a_cut[i] = PLACE_TIMEOUT - MARGIN - d - a_started[i];   /* v1: start-to-close only */
#else
    a_cut[i] = HBT - MARGIN - d - a_started[i];
#endif
    a_cut[i] = (WINDOW - a_sf[i] - MARGIN - d < a_cut[i] -> WINDOW - a_sf[i] - MARGIN - d : a_cut[i]);
#ifdef NO_CUTOFF
    a_cut[i] = CAP;
#endif
    /* lookup (skipped on attempt 1 when the gate found none, not in a reset run) */
    skip_lookup = (n == 1 && !earlier);
#ifdef NO_LOOKUP
    skip_lookup = skip_lookup || n > 1;
#endif
    if
    :: !skip_lookup && order != O_NONE ->
       printf("@@%d attempt %d place_exactly_once: lookup finds the order, adopts it\n", t_now, n);
       report(i, R_OK, 0);
       goto done
    :: !skip_lookup && order == O_NONE ->
       printf("@@%d attempt %d place_exactly_once: lookup finds no order\n", t_now, n)
    :: !skip_lookup ->   /* the exchange answers with an error (outcome unknown, refused) */
       printf("@@%d attempt %d place_exactly_once: lookup fails, the attempt retries\n", t_now, n);
       report(i, R_RETRY, 0);
       goto done
    :: skip_lookup
    fi;
    /* earlier_send_horizon_ms, on the exchange clock: E(S) = S + A - d in true time */
    hz = NONE;
    if
    :: n >= 2 && a_ra[i] == n - 1 && a_rk[i] != NOREC ->
       hz = (a_rk[i] == REFUSED -> NONE : a_ru[i])
    :: n >= 2 && !(a_ra[i] == n - 1 && a_rk[i] != NOREC) ->
       hz = a_allow[i] - d + H - a_started[i]   /* E(S_N) + H: attempt N started at its scheduled time */
    :: else
    fi;
#ifdef NO_UNKNOWN_WAIT
    hz = NONE;
#endif
#ifndef NO_RESET_WAIT
#ifdef RESET_FLOOR_FIRST_ONLY
    if :: earlier && n == 1 -> hz = a_allow[i] - d + HBT + H - a_sf[i] :: else fi;
#else
    if
    :: earlier && a_allow[i] - d + HBT + H - a_sf[i] > hz ->
       hz = a_allow[i] - d + HBT + H - a_sf[i]   /* E(S_1) + HBT + H, S_1 the activity's first scheduling */
    :: else
    fi;
#endif
#endif
    printf("@@%d attempt %d earlier_send_horizon_ms: until=~%d (record %e of attempt %d)\n", t_now, n, t_now + hz, a_rk[i], a_ra[i]);
    a_stamp[i] = hz;   /* a_stamp holds the horizon until the send */
  }
  if
  :: hz > 0 ->
#ifdef STALE_HORIZON
     /* v1: wait inside the attempt, recording the horizon while waiting, then send */
     do
     :: a_stamp[i] > 0 ->
        heartbeat(i, CLEAR, a_stamp[i]);
        a_wait[i] = 1;
        a_wait[i] <= 0
     :: else -> break
     od;
     printf("@@%d attempt %d waited (v1): looks again\n", t_now, n);
     if
     :: order != O_NONE -> report(i, R_OK, 0); goto done
     :: else
     fi
#else
     atomic {
       printf("@@%d attempt %d wait_for: record clear until=~%d, PLACEMENT_WAIT retry in ~%d\n", t_now, n, t_now + hz, hz + PAD);
       heartbeat(i, CLEAR, hz);
       report(i, R_RETRY, hz + PAD);
       goto done
     }
#endif
  :: else
  fi;
  fault(i);   /* between the lookup and the send */
  atomic {
    if
    :: a_cut[i] < 0 ->
       printf("@@%d attempt %d send_cutoff_ms passed: record clear, nothing sent\n", t_now, n);
       heartbeat(i, CLEAR, a_stamp[i]);
       report(i, R_RETRY, 0);
       goto done
    :: else
    fi;
    a_stamp[i] = H;
    printf("@@%d attempt %d place_exactly_once: record sending until=~%d\n", t_now, n, t_now + H);
    heartbeat(i, SENDING, H)
  }
  fault(i);   /* between the record and the request leaving the worker */
  atomic {
    if
    :: order == O_OPEN ->
       printf("@@%d attempt %d send: DuplicateOrder, lookup adopts the open order\n", t_now, n);
       report(i, R_OK, 0)
    :: order != O_OPEN && a_stamp[i] < H - RECV_WINDOW ->
       printf("@@%d attempt %d send: refused, timestamp older than recvWindow: record refused\n", t_now, n);
       heartbeat(i, REFUSED, NONE);
       report(i, R_RETRY, 0)
    :: order != O_OPEN && a_stamp[i] >= H - RECV_WINDOW ->
       if
       :: rq_rem[i] = a_stamp[i];
          execute(i);
          printf("@@%d attempt %d send: exchange answers, order placed\n", t_now, n);
          report(i, R_OK, 0)
       :: order == O_NONE ->
          printf("@@%d attempt %d send: refused outright: record refused\n", t_now, n);
          heartbeat(i, REFUSED, NONE);
          report(i, R_RETRY, 0)
       :: order == O_NONE ->
          printf("@@%d attempt %d send: OrderRejected (business refusal)\n", t_now, n);
          report(i, R_REJECTED, 0)
       :: rq_rem[i] = a_stamp[i];
          printf("@@%d attempt %d send: outcome unknown (exchange accepted, may execute until ~%d)\n", t_now, n, t_now + a_stamp[i]);
          report(i, R_RETRY, 0)
       fi
    fi
  }
  goto done;
crashed:
  a_pk[i] = NOREC;
done:
  atomic {
    a_alive[i] = false; a_pk[i] = NOREC; a_stamp[i] = LOW; a_wait[i] = LOW; a_thr[i] = LOW;
    a_started[i] = LOW; a_sf[i] = LOW; a_cut[i] = LOW; a_allow[i] = 0; a_rk[i] = NOREC; a_ra[i] = 0; a_ru[i] = LOW; a_part[i] = false
  }
}

/* ---- the workflow: workflows/trade_intent.py ---------------------------------------------- */

short w_wait = LOW;
short rec_since;            /* since the reconcile activity was scheduled */

inline finish(state) {
  ended = true; end_state = state;
  printf("@@%d intent ends %d\n", t_now, state);
  if
  :: order == O_OPEN ->
     printf("@@PROPERTY P2 violated: the intent ended %d while its order is live\n", state);
     assert(false)
  :: else
  fi
}

active proctype workflow() {
  byte r; byte cause; short d; short hz; bool may_be_in_flight;
restart:
  atomic {
    following = false;
    r = wrun; since_run = 0; deadline_left = DEADLINE;
    /* _place: schedule place_order (its first attempt at once) */
    att = 0; act = A_BACKOFF; retry_left = 0; since_first = 0;
    rec_kind = NOREC; rec_att = 0; rec_until = NONE;
    printf("@@%d workflow run %d: _place schedules place_order\n", t_now, r)
  }
  if
  :: wrun != r -> goto restart
  :: act == A_OK ->
     if
     :: order == O_FILLED -> printf("@@%d _follow: order filled\n", t_now); finish(E_FILLED); goto end_done
     :: else
     fi
  :: act == A_REJECTED -> printf("@@%d _place: exchange rejected the order\n", t_now); finish(E_REJECTED); goto end_done
  :: act == A_FAIL -> cause = C_FAILURE; may_be_in_flight = true; goto settle
  fi;
  /* _follow: watch the order until it closes, a cancel arrives or the deadline passes */
  may_be_in_flight = false;
  following = true;
  if
  :: wrun != r -> goto restart
  :: order == O_FILLED -> printf("@@%d _follow: watch sees the fill\n", t_now); finish(E_FILLED); goto end_done
  :: cancel_req -> cause = C_CANCEL
  :: deadline_left <= 0 -> cause = C_DEADLINE
  fi;
settle:
  following = false;
  /* _settle: cancel_order, retried by the server; reconcile() inside each attempt */
  printf("@@%d _settle (cause %d) schedules cancel_order\n", t_now, cause);
  rec_since = 0;
  do
  :: wrun != r -> goto restart
  :: else ->
     if
     :: faults < MAXFAULTS ->   /* the attempt's worker crashes: heartbeat timeout, then retry */
        faults++;
        printf("@@%d cancel_order attempt crashes\n", t_now);
        w_wait = HBT + RETRY_INITIAL;
        if :: wrun != r -> goto restart :: w_wait <= 0 fi
     :: else
     fi;
     select(d : -TOL .. TOL);   /* see SKEW_BEYOND_TOL: the reconcile's clock check is not the finding */
     if
     :: order == O_OPEN ->
        if
        :: order = O_CANCELED; printf("@@%d reconcile: cancel_or_lookup cancels the order\n", t_now)
        :: order = O_FILLED; printf("@@%d reconcile: the order filled before the cancel\n", t_now)
        fi;
        break
     :: order == O_FILLED || order == O_CANCELED ->
        printf("@@%d reconcile: cancel_or_lookup finds the order closed\n", t_now); break
     :: order == O_NONE && !may_be_in_flight -> break
     :: order == O_NONE && may_be_in_flight && (d > TOL || d < -TOL) ->
        printf("@@%d reconcile: refuse_on_clock_skew\n", t_now);
        w_wait = RETRY_INITIAL;
        if :: wrun != r -> goto restart :: w_wait <= 0 fi
     :: order == O_NONE && may_be_in_flight && !(d > TOL || d < -TOL) ->
        hz = TOL - d + H - rec_since;   /* E(S_reconcile) + H */
        if :: r > 0 -> hz = hz + HBT :: else fi;   /* the reset floor (REVISION 1) */
#ifdef SETTLE_TRUSTS
        hz = NONE;
#endif
        if
        :: hz > 0 ->
           printf("@@%d reconcile: no order yet, PLACEMENT_WAIT until=~%d\n", t_now, t_now + hz);
           w_wait = hz + PAD;
           if :: wrun != r -> goto restart :: w_wait <= 0 fi
        :: else ->
           printf("@@%d reconcile: no order, and nothing sent earlier can execute any more\n", t_now);
           break
        fi
     fi
  od;
  if
  :: order == O_FILLED -> finish(E_FILLED)
  :: order != O_FILLED && cause == C_DEADLINE -> finish(E_EXPIRED)
  :: order != O_FILLED && cause == C_CANCEL -> finish(E_CANCELLED)
  :: order != O_FILLED && cause == C_FAILURE -> finish((order == O_NONE -> E_FAILED : E_CANCELLED))
  fi;
end_done:
  skip
}

/* ---- time, the matching engine, the operator ----------------------------------------- */

bool quiet;                 /* the intent ended and nothing can happen any more */

active proctype clock() {
  byte i;
end_clock:
  do
  :: quiet -> break
  :: timeout && !quiet -> atomic {
       quiet = ended;
       for (i : 0 .. NSLOT - 1) { quiet = quiet && !a_alive[i] && rq_rem[i] < 0 }
       if
       :: quiet -> goto tick_end
       :: else
       fi;
       if
       :: !ended && since_run > BOUND ->
          printf("@@PROPERTY P3 violated: the intent has not ended %d ticks after its run started\n", since_run);
          assert(false)
       :: else
       fi;
       /* the matching engine: a request inside its horizon may execute t_now */
       for (i : 0 .. NSLOT - 1) {
         if
         :: rq_rem[i] >= 0 -> if :: execute(i) :: skip fi
         :: else
         fi
       }
       if
       :: order == O_OPEN -> if :: order = O_FILLED; printf("@@%d the resting order fills\n", t_now) :: skip fi
       :: else
       fi;
       /* the operator */
       if
       :: !cancel_req && following -> if :: cancel_req = true; printf("@@%d operator sends cancel_order\n", t_now) :: skip fi
       :: else
       fi;
       if
       :: wrun < MAXRESETS && !ended ->
          if
          :: wrun++; act = A_IDLE; printf("@@%d operator resets the workflow: run %d starts\n", t_now, wrun)
          :: skip
          fi
       :: else
       fi;
       /* one tick */
       t_now++;
       since_run = (since_run <= BOUND -> since_run + 1 : since_run); inc(since_first); inc(rec_since);
       dec(deadline_left); dec(retry_left); dec(hb_left); dec(rec_until); dec(w_wait);
       for (i : 0 .. NSLOT - 1) {
         dec(rq_rem[i]);
         if
         :: a_alive[i] ->
            inc(a_started[i]); inc(a_sf[i]); dec(a_cut[i]); dec(a_thr[i]); dec(a_pu[i]); dec(a_wait[i]); dec(a_stamp[i]); dec(a_ru[i]);
            if
            :: a_pk[i] != NOREC && a_thr[i] <= 0 ->
               a_thr[i] = HB_THROTTLE; deliver(i, a_pk[i], a_pu[i]); a_pk[i] = NOREC
            :: else
            fi
         :: else
         fi
       }
tick_end:
       skip
     }
  od
}
