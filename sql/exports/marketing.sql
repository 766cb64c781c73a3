-- Export type marketing: one row per campaign, with the name of its owner and the usual
-- performance figures: budget left and used, click-through and conversion rates,
-- cost per click and per conversion, and return on spend. Rates are in percent points,
-- a rate whose divisor is zero is NULL.
-- Columns:
--   campaign_id, campaign_name, channel, region, start_date, end_date, launched_at,
--   campaign_status, owner_employee_id, owner_name, budget, spend, budget_remaining,
--   budget_used_percent, impressions, clicks, conversions, ctr_percent,
--   conversion_rate_percent, cost_per_click, cost_per_conversion, attributed_revenue,
--   roi_percent, notes
-- Parameters: none. The query builder selects from this query as a subquery and binds
-- every filter value itself, so this file holds no placeholders.
SELECT
    mc.campaign_id,
    mc.campaign_name,
    mc.channel,
    mc.region,
    mc.start_date,
    mc.end_date,
    mc.launched_at,
    mc.campaign_status,
    mc.owner_employee_id,
    CASE WHEN o.employee_id IS NOT NULL THEN CONCAT_WS(' ', o.first_name, o.last_name) END AS owner_name,
    mc.budget,
    mc.spend,
    CAST(mc.budget - mc.spend AS DECIMAL(14, 2)) AS budget_remaining,
    CAST(CAST(mc.spend AS DECIMAL(18, 4)) * 100 / NULLIF(mc.budget, 0) AS DECIMAL(18, 2)) AS budget_used_percent,
    mc.impressions,
    mc.clicks,
    mc.conversions,
    CAST(CAST(mc.clicks AS DECIMAL(18, 4)) * 100 / NULLIF(mc.impressions, 0) AS DECIMAL(18, 4)) AS ctr_percent,
    CAST(CAST(mc.conversions AS DECIMAL(18, 4)) * 100 / NULLIF(mc.clicks, 0) AS DECIMAL(18, 4)) AS conversion_rate_percent,
    CAST(CAST(mc.spend AS DECIMAL(18, 4)) / NULLIF(mc.clicks, 0) AS DECIMAL(18, 4)) AS cost_per_click,
    CAST(CAST(mc.spend AS DECIMAL(18, 4)) / NULLIF(mc.conversions, 0) AS DECIMAL(18, 2)) AS cost_per_conversion,
    mc.attributed_revenue,
    CAST(
        CAST(mc.attributed_revenue - mc.spend AS DECIMAL(18, 4)) * 100 / NULLIF(mc.spend, 0)
        AS DECIMAL(18, 2)
    ) AS roi_percent,
    mc.notes
FROM marketing_campaigns AS mc
LEFT JOIN employees AS o ON o.employee_id = mc.owner_employee_id
