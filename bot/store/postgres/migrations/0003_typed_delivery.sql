-- Typed delivery record and failure report instead of keys in the JSON context; the error text
-- column now holds the provider's own words (the bot's sentences are rendered from error_kind).
-- PostgreSQL's dialect of bot/store/sqlite/migrations/0003_typed_delivery.sql.
ALTER TABLE jobs RENAME COLUMN error_message TO error_detail;
ALTER TABLE jobs ADD COLUMN delivered_via TEXT;
ALTER TABLE jobs ADD COLUMN result_message_id BIGINT;
ALTER TABLE jobs ADD COLUMN result_channel_id BIGINT;
ALTER TABLE jobs ADD COLUMN saved_to TEXT;
ALTER TABLE jobs ADD COLUMN failure_reported_at DOUBLE PRECISION;

UPDATE jobs SET
    delivered_via = COALESCE(
        context ->> 'delivered_via',
        CASE context ->> 'delivered_as' WHEN 'link' THEN 'terminal' END,
        CASE WHEN context ->> 'saved_to' IS NOT NULL THEN 'terminal' END
    ),
    result_message_id = CASE WHEN jsonb_typeof(context -> 'result_message_id') = 'number'
        THEN (context ->> 'result_message_id')::BIGINT END,
    result_channel_id = CASE WHEN jsonb_typeof(context -> 'result_channel_id') = 'number'
        THEN (context ->> 'result_channel_id')::BIGINT END,
    saved_to = context ->> 'saved_to',
    failure_reported_at = CASE WHEN context -> 'failure_reported' = 'true'::jsonb
        THEN updated_at END
WHERE jsonb_typeof(context) = 'object';

UPDATE jobs SET context = context - ARRAY[
    'delivered_via', 'delivered_as', 'result_message_id', 'result_channel_id', 'saved_to',
    'failure_reported'
] WHERE jsonb_typeof(context) = 'object';
