/*
 * The futures protection saga (workflows/saga.py ProtectionSaga) after an entry's follow ends,
 * as a Promela model: P4, a protective order for every filled futures quantity before the
 * intent ends.
 *
 *   saga()      ProtectionSaga.protect: place_protection (activities/futures.py, one
 *               place_exactly_once per attempt, PROTECT_RETRY's attempts within
 *               PROTECT_WINDOW), _hand_over on success; _compensate on failure: flatten
 *               (close_position), then cancel_protection of the order that was tried.
 *   exchange()  a protective request accepted with an unknown outcome executes at some
 *               point inside its horizon (stamp + H), or never.
 *
 * One protective order stands for the stop-loss and the take-profit: each goes through the
 * same steps, and the saga compensates when any one fails. The placement's exactly-once
 * discipline with its timing (heartbeats, zombies, cutoffs, the horizon's length) is
 * model/placement.pml's; here an attempt is one step with the outcomes it can have, and the
 * horizon is an event: the request executed, or can no longer. PROTECT_WINDOW may end at any
 * point of the placement (every window length at once). The flatten ends within its
 * RECONCILE_WINDOW (as the reconcile does in placement.pml); a flatten refused for good is
 * left out (the intent then ends FAILED saying the position may be unprotected).
 *
 * Properties (assertions, each printed with its name before it fails):
 *   P1 at most one protective order executes under its clientAlgoId;
 *   P4 when the intent ends with a filled quantity, a protective order covering it is live
 *      or the position was closed.
 *
 * Sabotage flags (spin -D...), each must give a counterexample:
 *   NO_FLATTEN       _compensate ends the intent FAILED without the flatten
 *   NO_PROTECT_WAIT  an attempt trusts "no protective order" while an earlier request of
 *                    this clientAlgoId may still execute (no wait after an unknown outcome)
 */

#include "constants.pml"

#ifndef MAXFAULTS
#define MAXFAULTS 1
#endif

/* End states, numbered as in placement.pml (tools/model/check.py END_STATES). */
#define E_FILLED 1
#define E_CANCELLED 2
#define E_FAILED 4

bool filled;          /* the entry's follow ended with a filled quantity */
bool position;        /* the filled quantity is an open position (not flattened) */
byte executed;        /* protective orders executed under the clientAlgoId */
bool live;            /* the protective order is live at the exchange (not cancelled) */
bool inflight;        /* a protective request may still execute (inside its horizon) */
bool ended;
byte end_state;
byte faults;

inline execute_protection() {
  if
  :: executed > 0 ->
     printf("@@exchange executes a SECOND protective order under the clientAlgoId\n");
     printf("@@PROPERTY P1 violated: two protective orders executed under one clientAlgoId\n");
     assert(false)
  :: else -> skip
  fi;
  executed++;
  live = true
}

proctype exchange() {
end:
  do
  :: atomic { inflight ->
       inflight = false;
       if
       :: printf("@@exchange executes the protective request sent with an unknown outcome\n");
          execute_protection()
       :: printf("@@exchange: the protective request's horizon passes, it can no longer execute\n")
       fi }
  od
}

inline end_intent(state) {
  if
  :: filled && position && !live ->
     printf("@@intent ends %d\n", state);
     printf("@@PROPERTY P4 violated: the intent ended with its filled quantity unprotected and open\n");
     assert(false)
  :: else -> printf("@@intent ends %d\n", state)
  fi;
  end_state = state;
  ended = true
}

proctype saga() {
  byte att = 0;
  bool placed = false;
  bool failed = false;
  if
  :: filled = true; position = true;
     printf("@@_follow ends with a filled quantity: ProtectionSaga.protect\n")
  :: printf("@@_follow ends with no fill: nothing to protect\n")
  fi;
  if
  :: !filled -> end_intent(E_CANCELLED); goto done
  :: else -> skip
  fi;
  /* place_protection: one attempt per pass, PROTECT_RETRY's attempts within PROTECT_WINDOW. */
  do
  :: placed || failed -> break
  :: else ->
     if
     :: att == PROTECT_ATTEMPTS ->
        printf("@@place_protection fails: PROTECT_RETRY's attempts used up\n");
        failed = true
     :: printf("@@place_protection fails: PROTECT_WINDOW ends (schedule-to-close)\n");
        failed = true
     :: att < PROTECT_ATTEMPTS ->
        att++;
        /* place_exactly_once: the lookup first. */
        if
        :: faults < MAXFAULTS ->
           faults++;
           printf("@@attempt %d place_exactly_once: lookup fails, the attempt retries\n", att)
        :: executed > 0 ->
           printf("@@attempt %d place_exactly_once: lookup finds the protective order, adopts it\n", att);
           placed = true
        :: executed == 0 && inflight ->
#ifdef NO_PROTECT_WAIT
           printf("@@attempt %d place_exactly_once: lookup finds no order; an earlier request may still execute, sent anyway\n", att);
           goto send
#else
           /* wait_for: the earlier request's horizon; the attempt retries after it
              (PLACEMENT_WAIT), or PROTECT_WINDOW ends meanwhile (the branch above). */
           printf("@@attempt %d place_exactly_once: lookup finds no order, wait_for the earlier request's horizon\n", att)
#endif
        :: executed == 0 && !inflight ->
           printf("@@attempt %d place_exactly_once: lookup finds no order\n", att);
send:
           if
           :: printf("@@attempt %d place_exactly_once: send -> placed\n", att);
              execute_protection(); placed = true
           :: faults < MAXFAULTS ->
              faults++;
              printf("@@attempt %d place_exactly_once: send -> placed, the answer is lost (worker crash)\n", att);
              execute_protection()
           :: printf("@@attempt %d place_exactly_once: send -> unknown outcome (request in flight)\n", att);
              inflight = true
           :: printf("@@attempt %d place_exactly_once: send -> rejected, the attempt retries\n", att)
           :: printf("@@attempt %d place_exactly_once: send -> refused outright (non-retryable)\n", att);
              failed = true
           fi
        fi
     fi
  od;
  if
  :: placed ->
     printf("@@ProtectionSaga._hand_over: the OCO child watches the protective order\n");
     end_intent(E_FILLED)
  :: else ->
#ifdef NO_FLATTEN
     printf("@@ProtectionSaga._compensate: ends FAILED without the flatten\n");
#else
     printf("@@ProtectionSaga._compensate: close_position flattens the filled quantity\n");
     position = false;
     /* cancel_protection (reconcile, may_be_in_flight): the tried order cannot appear after. */
     (!inflight);
     live = false;
     printf("@@ProtectionSaga._compensate: cancel_protection, the tried protective order is not live\n");
#endif
     end_intent(E_FAILED)
  fi;
done:
  skip
}

init {
  atomic {
    run exchange();
    run saga()
  }
}
