-- marketing_campaigns: campaigns with their funnel; planned ones have not launched or spent.
-- Columns: campaign_id, campaign_name, channel, region, start_date, end_date, launched_at, budget,
--   spend, impressions, clicks, conversions, attributed_revenue, campaign_status,
--   owner_employee_id, notes.
-- Parameters: seed, marketing_campaigns, employees.
WITH base AS (
    SELECT
        range AS campaign_id,
        rnd($seed, range, 1, 1000) AS start_day,
        pick(region_codes(), $seed, range, 2) AS region,
        rnd($seed, range, 3, 100) AS status_roll,
        CASE
            WHEN range % 7 = 3 THEN 'planned'
            WHEN status_roll < 25 THEN 'active'
            WHEN status_roll < 35 THEN 'paused'
            ELSE 'completed'
        END AS campaign_status,
        100000 * (1 + rnd($seed, range, 4, 500)) AS budget_cents
    FROM range(1, $marketing_campaigns + 1)
), funnel AS (
    SELECT
        *,
        CASE WHEN campaign_status = 'planned' THEN 0
             ELSE budget_cents * (20 + rnd($seed, campaign_id, 5, 91)) // 100 END AS spend_cents,
        spend_cents // 100 * (50 + rnd($seed, campaign_id, 6, 400)) AS impressions,
        impressions * (1 + rnd($seed, campaign_id, 7, 50)) // 1000 AS clicks,
        clicks * (1 + rnd($seed, campaign_id, 8, 10)) // 100 AS conversions
    FROM base
)
SELECT
    campaign_id,
    CASE
        WHEN is_odd(campaign_id, $marketing_campaigns, 1)
            THEN odd_pick(odd_names(), campaign_id, $marketing_campaigns, 1)
        ELSE pick(['Spring Sale', 'Summer Splash', 'Back to School', 'Black Friday', 'Holiday Gifts',
                   'New Year, New You', 'Singles'' Day', 'Lunar New Year', '"Brand" Awareness',
                   'Día de Muertos'], $seed, campaign_id, 9)
            || ' ' || year(span_date(start_day)) || ' – ' || region
    END AS campaign_name,
    pick(['email', 'social', 'search', 'display', 'events', 'affiliate'], $seed, campaign_id, 10) AS channel,
    region,
    span_date(start_day) AS start_date,
    CASE WHEN campaign_id % 5 = 2 THEN NULL
         ELSE span_date(least(start_day + 14 + rnd($seed, campaign_id, 11, 90), span_days() - 1)) END AS end_date,
    CASE WHEN campaign_status <> 'planned'
         THEN instant(span_start() + start_day * 86400 + 28800 + rnd($seed, campaign_id, 12, 14400)) END
        AS launched_at,
    cents(budget_cents) AS budget,
    cents(spend_cents) AS spend,
    impressions,
    clicks,
    conversions,
    cents(conversions * (2000 + rnd($seed, campaign_id, 13, 18000))) AS attributed_revenue,
    campaign_status,
    CASE WHEN campaign_id % 6 = 5 THEN NULL ELSE 1 + rnd($seed, campaign_id, 14, $employees) END
        AS owner_employee_id,
    CASE
        WHEN is_odd(campaign_id, $marketing_campaigns, 2)
            THEN odd_pick(odd_texts(), campaign_id, $marketing_campaigns, 2)
        WHEN rnd($seed, campaign_id, 15, 10) < 6 THEN NULL
        ELSE pick(['Agency: Blue Fox, Ltd.', 'Creative refresh in week 3', 'A/B test: subject lines',
                   'Budget moved from display'], $seed, campaign_id, 16)
    END AS notes
FROM funnel
