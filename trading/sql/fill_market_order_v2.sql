-- trading_fill_market_order: a spot market order's whole fill in ONE call. The caller runs it in a
-- transaction of its own (BEGIN, the call, COMMIT: the commit stays the client's, so a client that
-- dies mid-call commits nothing). Version 2 (markets: the base asset's own book, and the
-- portfolio_update's ``holdings``); a change is a new file and a new migration.
--
-- The same algorithm as the Python path (trading.services.command.command_run + orders._fill),
-- the same checks in the same order and the same lock order (docs/ledger.md, "Lock order"):
--   the outcome probe -> the trader's balance rows (by id) -> the outcome probe again, on a new
--   snapshot -> the price's age -> free balances -> the order -> the system shard rows (by id)
--   -> balances, ledger transaction and entries -> the fill -> the base asset's book -> the event counter
--   -> the two events.
-- The planning (size rules, slippage, fee) is pure maths done by the caller from the price; this
-- function only does what needs the database. It answers one row: ``outcome`` is
--   'filled'      written; ``epoch``, ``txn_id`` and the two events' texts (order_fill, then
--                 portfolio_update), to publish;
--   'stored'      the id already has an outcome (the caller replays it); nothing written;
--   'no_books'    the trader's books, the base asset's balance row or book, or a system account
--                 is missing (the caller takes the Python path, which creates them); nothing written;
--   'stale'       the price aged past its budget while the call waited for its locks
--                 (``waited``: the lock wait); nothing written;
--   'insufficient' a free balance would go negative: ``asset``, ``available``, ``required``
--                 (texts); nothing written.
-- A lock wait over ``p_lock_timeout`` raises lock_not_available; a concurrent duplicate that won
-- the unique index raises unique_violation: both roll the call back.

CREATE OR REPLACE FUNCTION trading_round_half_even(v numeric, places int) RETURNS numeric
LANGUAGE sql IMMUTABLE STRICT AS $fn$
    -- Python's ROUND_HALF_EVEN (core.money.usd) for v >= 0; PostgreSQL's round() rounds ties away.
    SELECT CASE WHEN x.s - trunc(x.s) = 0.5 AND mod(trunc(x.s), 2) = 0 THEN trunc(v, places) ELSE round(v, places) END
      FROM (SELECT v * power(10::numeric, places) AS s) AS x
$fn$;

CREATE OR REPLACE FUNCTION trading_order_outcome_exists(p_user_id bigint, p_client_order_id text) RETURNS boolean
LANGUAGE sql STABLE AS $fn$
    -- The id already has an outcome: the order, or its stored rejection (command.Outcomes.probe_sql).
    SELECT EXISTS (SELECT 1 FROM trading_order o WHERE o.user_id = p_user_id AND o.client_order_id = p_client_order_id)
        OR EXISTS (SELECT 1 FROM trading_orderrejection j
                    WHERE j.user_id = p_user_id AND j.client_order_id = p_client_order_id)
$fn$;

CREATE OR REPLACE FUNCTION trading_fill_market_order(
    p_user_id bigint, p_client_order_id text, p_request_hash text,
    p_order_id uuid, p_fill_id uuid,
    p_symbol text, p_base_asset text, p_side text, p_type text, p_qty numeric, p_notional numeric,
    p_fill_qty numeric, p_price numeric, p_fill_notional numeric, p_fee numeric, p_cash_delta numeric,
    p_slippage_bps numeric, p_index_price numeric, p_price_source text, p_memo text,
    p_now timestamptz, p_quote_age interval, p_stale_budget interval,
    p_lock_timeout text, p_shard int, p_fill_data text, p_ts text,
    OUT outcome text, OUT epoch int, OUT txn_id bigint, OUT fill_event text, OUT portfolio_event text,
    OUT asset text, OUT available text, OUT required text, OUT waited interval
)
LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
    started timestamptz := clock_timestamp();
    v_account bigint;
    v_house bigint;
    v_fees bigint;
    v_sign int := CASE WHEN p_side = 'buy' THEN 1 ELSE -1 END;
    v_base_delta numeric := CASE WHEN p_side = 'buy' THEN p_fill_qty ELSE -p_fill_qty END;
    v_rows int;
    v_acc bigint[];
    v_ast text[];
    v_amt numeric[];
    v_shd int[];
    r record;
    v_seq int;
    v_balances text;
    v_book text;
    h record;
BEGIN
    PERFORM set_config('lock_timeout', p_lock_timeout, true);  -- this call's transaction only

    -- 1. the trader's account and whether the id already has an outcome
    SELECT a.id INTO v_account FROM portfolio_ledgeraccount a WHERE a.user_id = p_user_id;
    IF trading_order_outcome_exists(p_user_id, p_client_order_id) THEN
        outcome := 'stored';
        RETURN;
    END IF;
    SELECT max(a.id) FILTER (WHERE a.code = 'house'), max(a.id) FILTER (WHERE a.code = 'fees')
      INTO v_house, v_fees FROM portfolio_ledgeraccount a WHERE a.code IN ('house', 'fees');
    IF v_account IS NULL OR v_house IS NULL OR v_fees IS NULL THEN
        outcome := 'no_books';
        RETURN;
    END IF;

    -- 2. lock the trader's USD and base rows (users' rows first, each by id: the lock order)
    PERFORM 1 FROM portfolio_balance b
     WHERE b.account_id = v_account AND b.shard = 0 AND b.asset IN ('USD', p_base_asset)
     ORDER BY b.allow_negative, b.id FOR UPDATE OF b;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    IF v_rows < 2 OR NOT EXISTS (SELECT 1 FROM portfolio_spotholding s
                                  WHERE s.account_id = v_account AND s.asset = p_base_asset) THEN
        outcome := 'no_books';
        RETURN;
    END IF;

    -- 3. under the lock, on a new snapshot: the epoch, and the id again (a concurrent duplicate
    --    or reset committed while we waited)
    SELECT a.epoch INTO epoch FROM portfolio_ledgeraccount a WHERE a.id = v_account;
    IF trading_order_outcome_exists(p_user_id, p_client_order_id) THEN
        outcome := 'stored';
        RETURN;
    END IF;

    -- 4. the price read before the call is still within its budget (the wait measured on one clock)
    waited := clock_timestamp() - started;
    IF p_quote_age + waited > p_stale_budget THEN
        outcome := 'stale';
        RETURN;
    END IF;

    -- 5. free balances: the base row first, then USD (the order ledger_post checks them in)
    FOR r IN
        SELECT b.asset AS a, b.total - b.locked AS free, d.delta
          FROM portfolio_balance b
          JOIN (VALUES (p_base_asset, v_base_delta, 1), ('USD', p_cash_delta, 2)) AS d(asset, delta, pos)
            ON d.asset = b.asset
         WHERE b.account_id = v_account AND b.shard = 0 AND d.delta <> 0 AND NOT b.allow_negative
         ORDER BY d.pos
    LOOP
        IF r.free + r.delta < 0 THEN
            outcome := 'insufficient';
            asset := r.a;
            available := r.free::text;
            required := (r.free - (r.free + r.delta))::text;
            RETURN;
        END IF;
    END LOOP;

    -- 6. the order
    INSERT INTO trading_order (id, user_id, client_order_id, symbol, side, type, qty, notional, status,
                               filled_qty, filled_avg_price, fee, slippage_bps, index_price, price_source,
                               epoch, request_hash, created_at, filled_at)
    VALUES (p_order_id, p_user_id, p_client_order_id, p_symbol, p_side, p_type, p_qty, p_notional, 'filled',
            p_fill_qty, p_price, p_fee, p_slippage_bps, p_index_price, p_price_source,
            epoch, p_request_hash, p_now, p_now);

    -- 7. the ledger: the legs (a zero leg is left out, as ledger_post does), the system shard rows
    --    created at their first use and locked by id, the deltas, one balanced transaction and its
    --    entries
    v_acc := ARRAY[v_account, v_house, v_account, v_house, v_fees];
    v_ast := ARRAY[p_base_asset, p_base_asset, 'USD', 'USD', 'USD'];
    v_amt := ARRAY[v_base_delta, -v_base_delta, p_cash_delta, v_sign * p_fill_notional, p_fee];
    v_shd := ARRAY[0, p_shard, 0, p_shard, p_shard];
    INSERT INTO portfolio_balance (account_id, asset, shard, total, locked, allow_negative, updated_at)
    SELECT l.account_id, l.asset, l.shard, 0, 0, true, p_now
      FROM unnest(v_acc, v_ast, v_amt, v_shd) AS l(account_id, asset, amount, shard)
     WHERE l.account_id <> v_account AND l.amount <> 0
       AND NOT EXISTS (SELECT 1 FROM portfolio_balance b
                        WHERE b.account_id = l.account_id AND b.asset = l.asset AND b.shard = l.shard)
    ON CONFLICT ON CONSTRAINT balance_unique_account_asset_shard DO NOTHING;
    PERFORM 1 FROM portfolio_balance b
      JOIN unnest(v_acc, v_ast, v_amt, v_shd) AS l(account_id, asset, amount, shard)
        ON l.account_id = b.account_id AND l.asset = b.asset AND l.shard = b.shard
     WHERE l.account_id <> v_account AND l.amount <> 0
     ORDER BY b.allow_negative, b.id FOR UPDATE OF b;
    UPDATE portfolio_balance b SET total = b.total + l.amount, updated_at = p_now
      FROM unnest(v_acc, v_ast, v_amt, v_shd) AS l(account_id, asset, amount, shard)
     WHERE l.account_id = b.account_id AND l.asset = b.asset AND l.shard = b.shard AND l.amount <> 0;
    INSERT INTO portfolio_ledgertransaction (reason, reference_type, reference_id, memo, created_by_id, created_at)
    VALUES ('trade', 'order', p_order_id::text, left(p_memo, 255), NULL, p_now)
    RETURNING id INTO txn_id;
    INSERT INTO portfolio_ledgerentry (txn_id, account_id, asset, bucket, amount, created_at)
    SELECT txn_id, l.account_id, l.asset, 'free', l.amount, p_now
      FROM unnest(v_acc, v_ast, v_amt) WITH ORDINALITY AS l(account_id, asset, amount, pos)
     WHERE l.amount <> 0 ORDER BY l.pos;

    -- 8. the fill
    INSERT INTO trading_fill (id, order_id, user_id, symbol, side, qty, price, notional, fee, liquidity,
                              ledger_txn_id, created_at)
    VALUES (p_fill_id, p_order_id, p_user_id, p_symbol, p_side, p_fill_qty, p_price, p_fill_notional, p_fee,
            'taker', txn_id, p_now);

    -- 9. the base asset's book at average cost (portfolio.services.holdings.holding_apply_fill)
    UPDATE portfolio_spotholding s SET
        qty = s.qty + v_base_delta,
        cost_basis = s.cost_basis + CASE WHEN p_side = 'buy' THEN p_fill_notional ELSE -x.removed END,
        realized_pnl = s.realized_pnl + CASE WHEN p_side = 'buy' THEN 0 ELSE p_fill_notional - x.removed END,
        fees_paid = s.fees_paid + p_fee,
        volume = s.volume + p_fill_notional,
        trade_count = s.trade_count + 1,
        updated_at = p_now
      FROM (SELECT s2.id, CASE WHEN p_fill_qty >= s2.qty THEN s2.cost_basis
                               ELSE trading_round_half_even(s2.cost_basis * p_fill_qty / s2.qty, 6) END AS removed
              FROM portfolio_spotholding s2
             WHERE s2.account_id = v_account AND s2.asset = p_base_asset FOR UPDATE) x
     WHERE s.id = x.id
    RETURNING s.qty, s.cost_basis, s.realized_pnl, s.fees_paid INTO h;

    -- 10. the two events, with the trader's next two seqs (the counter row is locked last)
    INSERT INTO realtime_user_event_counter AS c (user_id, last_seq) VALUES (p_user_id, 2)
    ON CONFLICT (user_id) DO UPDATE SET last_seq = c.last_seq + 2
    RETURNING c.last_seq INTO v_seq;
    SELECT string_agg(format('"%s":{"free":"%s","locked":"%s","total":"%s"}',
                             b.asset, b.total - b.locked, b.locked, b.total), ',' ORDER BY b.asset)
      INTO v_balances
      FROM portfolio_balance b
     WHERE b.account_id = v_account AND b.shard = 0 AND b.asset IN ('USD', p_base_asset);
    fill_event := format('{"type":"order_fill","ts":"%s","data":%s,"seq":%s}', p_ts, p_fill_data, v_seq - 1);
    v_book := format('{"qty":"%s","cost_basis":"%s","realized_pnl":"%s","fees_paid":"%s"}',
                     h.qty, h.cost_basis, h.realized_pnl, h.fees_paid);
    portfolio_event := format(
        '{"type":"portfolio_update","ts":"%s","data":{"epoch":%s,"balances":{%s},%s"holdings":{"%s":%s}},"seq":%s}',
        p_ts, epoch, v_balances, CASE WHEN p_base_asset = 'SOL' THEN '"sol":' || v_book || ',' ELSE '' END,
        p_base_asset, v_book, v_seq);
    INSERT INTO realtime_user_event (user_id, seq, type, payload, created_at)
    VALUES (p_user_id, v_seq - 1, 'order_fill', fill_event::json, p_now),
           (p_user_id, v_seq, 'portfolio_update', portfolio_event::json, p_now);
    outcome := 'filled';
END
$fn$;
