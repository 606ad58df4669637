-- 0010_operation_item_request_ids: the ids of the Azure call behind an operation item's step, so
-- an Azure support case can quote them for a step that succeeded too (a failed step's message
-- already quotes them): the x-ms-client-request-id (Graph: client-request-id) vmlogind sent and
-- Azure's own x-ms-request-id (Graph: request-id) when the answer carried one. NULL: no call yet.
ALTER TABLE operation_items ADD COLUMN client_request_id TEXT;
ALTER TABLE operation_items ADD COLUMN azure_request_id TEXT;
