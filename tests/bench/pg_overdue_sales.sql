-- Ceiling for GET /v1/reports/overdue?kind=contact&limit=50 as a sales rep (pgbench -D small=<their
-- id>): the statement service/resources/reports.c runs for it (first page, the rep's customers only);
-- :n is the limit + 1.
\set n 51
WITH pol AS (SELECT p.tier, p.contact_interval_months AS months FROM cadence_policies p
             WHERE p.tier IN ('vip', 'key', 'general', 'reserve') AND p.contact_interval_months IS NOT NULL),
lim AS (SELECT crm_today() - 1 AS last_due),
cut AS (SELECT least(min(t.d) FILTER (WHERE t.n = :n), min(lim.last_due)) AS d
        FROM lim, pol, LATERAL (
            SELECT max(f.due) AS d, count(*) AS n
            FROM (SELECT crm_customer_due(c.archived_at IS NULL AND c.status <> 'lost', c.last_contact_at,
                                          c.first_contact_at, c.created_at, pol.months) AS due
                  FROM customers c
                  WHERE coalesce(c.tier_override, c.tier) = pol.tier AND c.archived_at IS NULL AND c.status <> 'lost'
                    AND c.owner_id = :small::uuid
                    AND coalesce(c.last_contact_at, c.first_contact_at::timestamp AT TIME ZONE 'UTC', c.created_at)
                        < crm_due_key_hi(lim.last_due, pol.months)
                    AND crm_customer_due(c.archived_at IS NULL AND c.status <> 'lost', c.last_contact_at,
                                         c.first_contact_at, c.created_at, pol.months) <= lim.last_due
                  ORDER BY coalesce(c.last_contact_at, c.first_contact_at::timestamp AT TIME ZONE 'UTC', c.created_at)
                  LIMIT :n) f) t)
SELECT o.kind, o.customer_id, o.customer_name, o.owner_id, o.tier, o.last_at, o.due_date, crm_today() - o.due_date,
       o.follow_up_id, o.description, o.responsible_user_id, o.due_date::text, o.sort_id::text
FROM (SELECT r.* FROM cut, pol, LATERAL (
          SELECT 'contact'::text AS kind, c.id AS customer_id, c.name AS customer_name, c.owner_id, pol.tier,
                 c.last_contact_at AS last_at,
                 crm_customer_due(c.archived_at IS NULL AND c.status <> 'lost', c.last_contact_at, c.first_contact_at,
                                  c.created_at, pol.months) AS due_date,
                 NULL::uuid AS follow_up_id, NULL::text AS description, NULL::uuid AS responsible_user_id,
                 c.id AS sort_id
          FROM customers c
          WHERE coalesce(c.tier_override, c.tier) = pol.tier AND c.archived_at IS NULL AND c.status <> 'lost'
            AND c.owner_id = :small::uuid
            AND coalesce(c.last_contact_at, c.first_contact_at::timestamp AT TIME ZONE 'UTC', c.created_at)
                < crm_due_key_hi(cut.d, pol.months)
            AND crm_customer_due(c.archived_at IS NULL AND c.status <> 'lost', c.last_contact_at, c.first_contact_at,
                                 c.created_at, pol.months) <= cut.d
          ORDER BY due_date, sort_id LIMIT :n) r) o
ORDER BY o.due_date, o.sort_id LIMIT :n;
