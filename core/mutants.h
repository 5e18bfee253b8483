/*
 * core/mutants: known bugs that can be compiled into the core, one at a time,
 * to prove that the simulator has teeth (`make mutants`).
 *
 * Build with -DADD_MUTANT=<id>. In normal builds ADD_MUTANT is 0 and every
 * ADD_MUTANT_ON(x) is the constant 0, so the hooks cost nothing.
 */
#ifndef ADD_MUTANTS_H
#define ADD_MUTANTS_H

#ifndef ADD_MUTANT
#define ADD_MUTANT 0
#endif

#define ADD_MUTANT_NONE 0
/* register: a replica ACKs WRITE_PROC before its store is durable */
#define ADD_MUTANT_ACK_BEFORE_STORE 1
/* register: a read returns the highest value without the write-back phase */
#define ADD_MUTANT_SKIP_WRITE_BACK 2
/* register: (ts, wr) compared by ts alone */
#define ADD_MUTANT_TS_WITHOUT_RANK 3
/* register: VALUE / ACK of an older operation accepted */
#define ADD_MUTANT_ACCEPT_STALE_REPLY 4
/* register: writer broadcasts WRITE_PROC without storing its value first */
#define ADD_MUTANT_WRITER_NO_STORE_FIRST 5
/* register: majority counted as >= N/2 instead of > N/2 */
#define ADD_MUTANT_MAJORITY_GE_HALF 6
/* sector store: reports stores durable without flushing */
#define ADD_MUTANT_STORE_SKIP_FLUSH 7
/* sector store: recovery ignores the journal */
#define ADD_MUTANT_RECOVERY_IGNORES_JOURNAL 8
/* sector store: recovery resets journal-a then journal-b, whatever their
 * generations (an older journal can outlive a newer one's reset) */
#define ADD_MUTANT_STORE_SETTLE_FIXED_ORDER 9
/* sector store: read_data does not verify the data's CRC32C */
#define ADD_MUTANT_STORE_NO_READ_CHECKSUM 10
/* sector store: replay applies every record, not only the highest tag */
#define ADD_MUTANT_STORE_REPLAY_ANY_TAG 11
/* sector store: open re-creates the store over a partial one (addsim:
 * scenarios/lost-file.txt, DURABLE TAG WENT BACK) */
#define ADD_MUTANT_STORE_RECREATES_PARTIAL 12
/* sector store: a corrupt record mid-journal is taken for a torn tail */
#define ADD_MUTANT_STORE_CORRUPT_AS_TORN 13
/* superblock: read accepts a value whose own checksum does not match */
#define ADD_MUTANT_SUPERBLOCK_SKIP_CHECKSUM 18
/* superblock: read accepts a sector store format newer than the code knows */
#define ADD_MUTANT_SUPERBLOCK_ACCEPT_NEWER 19
/* node: the bytes of a read_data that reported damage (-EBADMSG / -EIO)
 * are used as if the read had succeeded (sent in a VALUE, returned) */
#define ADD_MUTANT_READ_DATA_ERROR_IGNORED 20
/* node: READ_PROC / READ_PROC_META of a damaged sector are answered (the
 * node's damage check before answering is skipped) */
#define ADD_MUTANT_DAMAGED_ANSWERS_READ_PROC 21
/* register: a repair counts its own copy as one of K = N - floor(N/2)
 * answers: it stores the highest of K - 1 others, whatever their tags */
#define ADD_MUTANT_REPAIR_COUNTS_SELF 22
/* register: a writer picks maxts + 1, ignoring the store's ts_floor */
#define ADD_MUTANT_REPAIR_NO_FLOOR 23
/* register: a repair stores the highest of any K = N - floor(N/2) others,
 * even below its own tag before every other answered (unsafe for N >= 4) */
#define ADD_MUTANT_REPAIR_BELOW_TAG_WITH_K 24
/* register: a repair decides with answers collected before its sector was
 * rewritten (and damaged again), instead of asking again */
#define ADD_MUTANT_REPAIR_STALE_ANSWERS 25
/* sector store: with two journal flushes in flight, a later flush that
 * completes first reports its stores durable before the earlier batch's */
#define ADD_MUTANT_STORE_FLUSH_OUT_OF_ORDER 30
/* runtime-real/tick_policy: the daemon's tick is never moved earlier for a
 * retransmission due before it (it waits up to the 1 s safety tick) */
#define ADD_MUTANT_TICK_NO_RESCHEDULE 31
/* operations (ids 40..): the STATUS answer framed as an empty response */
#define ADD_MUTANT_STATUS_RSP_FRAMED_EMPTY 40
/* runtime-real/optrack: a finished command's slot freed without the
 * backward shift (commands stored after it become unreachable) */
#define ADD_MUTANT_OPTRACK_NO_SHIFT 41
/* runtime-real/status: half of the processes counted as a majority */
#define ADD_MUTANT_VERDICT_HALF_IS_MAJORITY 42
/* runtime-real/link_log: every failed reconnect of a link logged */
#define ADD_MUTANT_LINK_LOG_EVERY_FAILURE 43
/* register: an op whose client connection closed before it chose its tag
 * runs anyway (the ghost write of issue 13) */
#define ADD_MUTANT_RUN_ABANDONED_PRE_TAG 36
/* runtime-real/conn_policy: an unsigned client command takes a client slot
 * (16 attackers without the key lock every client out) */
#define ADD_MUTANT_CP_SLOT_WITHOUT_SIGNATURE 37
/* runtime-real/conn_policy: a newer inbound link from a rank does not
 * replace the older one (a dead peer's half-open link stays) */
#define ADD_MUTANT_CP_PEER_NOT_REPLACED 38
/* addd (runtime-real; caught by tests/suites/35-addd-mutants.sh) */
/* the store is opened with rank 0 (unchecked): another rank's storage is taken */
#define ADD_MUTANT_ADDD_STORE_RANK_UNCHECKED 52
/* addd never calls add_node_scrub_step: rot at rest stays until a client reads */
#define ADD_MUTANT_ADDD_NO_SCRUB 53
/* a storage error line leaves out the disk's last error (the file's path) */
#define ADD_MUTANT_ADDD_STORE_ERROR_WITHOUT_PATH 54
/* the start-up space check counts the data file only, not the journals */
#define ADD_MUTANT_SPACE_BOUND_DATA_ONLY 55
/* rejoin (ids 44..49; core/rejoin.c, node.c): a recovering process serves
 * (answers READ_PROC for, reads out) sectors it has not re-learned */
#define ADD_MUTANT_REJOIN_SERVES_UNKNOWN 44
/* rejoin, node: a recovering process shows its store's real tag for a
 * sector it has not re-learned and ACKs WRITE_PROCs of it (its ACKs count
 * before promotion; its repair settles for the first answer) */
#define ADD_MUTANT_REJOIN_ACKS_UNKNOWN 45
/* rejoin: the rebuild skips the sector after each one it re-learns */
#define ADD_MUTANT_REJOIN_SKIPS_SECTOR 46
/* rejoin: a new incarnation writes without the ts floor lifted above what
 * it re-learned: it may reuse a tag its wiped past left on others */
#define ADD_MUTANT_REJOIN_NO_FLOOR 47
/* Swarm's own (issue 16), outside register.c; each caught by addsim --swarm
 * within 200 seeds except 65 (tests/suites/60-mutants.sh prints the first
 * catching seeds): */
/* node: a client command whose HMAC does not verify is executed as if it
 * did (the node's hmac_ok check skipped) */
#define ADD_MUTANT_NODE_BAD_HMAC_EXECUTED 60
/* node: a VALUE carries the sender's rank as wr instead of the stored wr
 * (one tag then names two values) */
#define ADD_MUTANT_NODE_VALUE_OWN_RANK 61
/* sector map: deletion clears the slot without the backward shift (a key
 * displaced past it is no longer found: its register is lost) */
#define ADD_MUTANT_MAP_DEL_NO_SHIFT 62
/* node: a read's reply to the client is taken from the start of the op's
 * message buffer, not from its data field */
#define ADD_MUTANT_NODE_READ_REPLY_OFFSET 63
/* node: an op that completes after its client connection closed is not
 * taken off the count of pending client commands */
#define ADD_MUTANT_NODE_PENDING_LEAK 64
/* sector map: a shrink rehashes into the new table with the old capacity's
 * slots (entries land where lookups do not look). Not caught within 200
 * swarm seeds: a node's map rarely grows past its first 64 slots, so it
 * rarely shrinks (a weakness of the workload, left open). */
#define ADD_MUTANT_MAP_SHRINK_OLD_CAP 65
/* node: a command for a sector beyond n_sectors is answered OK (the range
 * check compares with > instead of >=: the last index plus one passes) */
#define ADD_MUTANT_NODE_SECTOR_RANGE_OFF_BY_ONE 66
/* node: a VALUE is answered with the sector's tag minus one on ts (a stale
 * tag under the current value) */
#define ADD_MUTANT_NODE_VALUE_STALE_TS 67
/* node: a READ_PROC is answered from the store at once even when the
 * sector's register has a store in flight (its VALUE may reveal a tag that
 * is not durable yet) */
#define ADD_MUTANT_NODE_READ_PROC_BYPASSES_REGISTER 68
/* Ids are taken in ranges so that parallel work does not collide:
 *  9..19  sector store, superblock, sim disk (storage)
 * 20..29  node and register (damage, repair, scrub)
 * 30..39  connections and the runtime policy module (36..39: conn)
 * 40..43  operations (metrics, status, link log); 44..49 rejoin
 * 50..51  NBD; 52..55 addd's storage plumbing; 56..57 operations (ops2);
 * 60..69 swarm's own
 * ADD_MUTANT_COUNT is the highest id in use. */
/* nbd (runtime-real/nbd_proto.c): a request whose length is not whole
 * sectors is accepted (its partial last sector silently dropped or padded);
 * caught by tests/unit/test_nbd_proto.c, not by the simulator */
#define ADD_MUTANT_NBD_ACCEPT_UNALIGNED 50
/* nbd (runtime-real/nbd_server.c): FLUSH answered without waiting for the
 * writes received before it; caught by tests/suites/35-nbd.sh (nbdsh) */
#define ADD_MUTANT_NBD_FLUSH_EARLY 51
/* sector store: a journal whose header is corrupt in both copies is
 * skipped at recovery, its records with it (test_sector_store_damage,
 * integration test_storage) */
#define ADD_MUTANT_STORE_HEADERLESS_SKIPPED 14
/* node: a retransmission is counted for the rank after the one it went to
 * (the per-peer metric blames the wrong link); caught by
 * tests/unit/test_node.c (retransmissions_are_counted_per_destination_rank) */
#define ADD_MUTANT_NODE_RETRANSMIT_WRONG_PEER 56
/* metrics: the checkpoint duration histogram observes every checkpoint of a
 * scrape interval with zero duration; caught by tests/unit/test_metrics.c */
#define ADD_MUTANT_METRICS_CHECKPOINT_ZERO 57
#define ADD_MUTANT_COUNT 68

#define ADD_MUTANT_ON(id) (ADD_MUTANT == (id))

#endif /* ADD_MUTANTS_H */
