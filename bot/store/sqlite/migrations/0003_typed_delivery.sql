-- Typed delivery record and failure report instead of keys in the JSON context; the error text
-- column now holds the provider's own words (the bot's sentences are rendered from error_kind).
ALTER TABLE jobs RENAME COLUMN error_message TO error_detail;
ALTER TABLE jobs ADD COLUMN delivered_via TEXT;
ALTER TABLE jobs ADD COLUMN result_message_id INTEGER;
ALTER TABLE jobs ADD COLUMN result_channel_id INTEGER;
ALTER TABLE jobs ADD COLUMN saved_to TEXT;
ALTER TABLE jobs ADD COLUMN failure_reported_at REAL;

UPDATE jobs SET
    delivered_via = COALESCE(
        json_extract(context, '$.delivered_via'),
        CASE json_extract(context, '$.delivered_as') WHEN 'link' THEN 'terminal' END,
        CASE WHEN json_extract(context, '$.saved_to') IS NOT NULL THEN 'terminal' END
    ),
    result_message_id = json_extract(context, '$.result_message_id'),
    result_channel_id = json_extract(context, '$.result_channel_id'),
    saved_to = json_extract(context, '$.saved_to'),
    failure_reported_at = CASE WHEN json_extract(context, '$.failure_reported') THEN updated_at END
WHERE json_valid(context);

UPDATE jobs SET context = json_remove(
    context, '$.delivered_via', '$.delivered_as', '$.result_message_id', '$.result_channel_id',
    '$.saved_to', '$.failure_reported'
) WHERE json_valid(context);
