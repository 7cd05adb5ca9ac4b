-- Version 2: several `vulnimport serve` instances on one database. The database orders their
-- imports: each accepted upload takes a place in `import_queue` (the instance that holds the upload
-- runs it when it reaches the head), and each instance renews a lease in `instances`; another
-- instance takes up the imports of one whose lease ran out. A single instance uses neither.

CREATE TABLE instances (
    id            text        PRIMARY KEY,
    address       text        NOT NULL,
    started_at    timestamptz NOT NULL DEFAULT now(),
    heartbeat_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE import_queue (
    -- Arrival order across instances.
    seq         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id  text        NOT NULL UNIQUE,
    -- The instance holding the upload (references instances.id, not enforced: a row outlives
    -- its instance's lease until another instance takes it up).
    instance    text        NOT NULL,
    -- The account that started it: who may cancel it from any instance.
    owner       bigint      NOT NULL,
    -- The accepted import (file, scan date, scope, starter), to record how it ended if its
    -- instance dies.
    import      jsonb       NOT NULL,
    enqueued_at timestamptz NOT NULL DEFAULT now(),
    started_at  timestamptz
);
