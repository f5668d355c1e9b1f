-- pg-boss schema 28 -> 29 (pg-boss 12.11).

-- Warnings the instances record (persistWarnings), newest first.
CREATE TABLE {{schema}}.warning (
  id         uuid        NOT NULL DEFAULT gen_random_uuid(),
  type       text        NOT NULL,
  message    text        NOT NULL,
  data       jsonb,
  created_on timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT warning_pkey PRIMARY KEY (id)
);

CREATE INDEX warning_i1 ON {{schema}}.warning (created_on DESC);
