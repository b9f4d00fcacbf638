{#
  Where a session came from, in Google Analytics 4's terms, from its landing event's columns
  (utm_*, the click ids, referrer_host): a source and a medium from the campaign tags, else from
  an ad click id, else from the referring site, else (direct) / (none). A referrer on the shop's
  own host (the landing URL's host or a CDPFLOW_SITE_HOSTS entry) is not a referral. Which
  sources are search engines, social networks, video or shopping sites is Google's own table,
  the seed ga4_source_categories (see source_categories).
#}

{% macro url_host(url) -%}
    nullif(regexp_replace(lower(regexp_extract({{ url }}, '^[a-zA-Z][a-zA-Z0-9+.-]*://([^/:?#]+)', 1)), '^www\.', ''), '')
{%- endmacro %}

{# One query-string parameter of a URL, as core_events reads gclid (null when absent or empty). #}
{% macro url_parameter(url, name) -%}
    case when contains({{ url }}, '{{ name }}=')
        then nullif(regexp_extract({{ url }}, '(?:^|[?&#]){{ name }}=([^&#]*)', 1), '') end
{%- endmacro %}

{# Webmail hosts: a link in an e-mail read there is e-mail traffic, not a referral. #}
{% macro webmail_pattern() -%}
    '^(mail\.google\.com|outlook\.live\.com|outlook\.office\.com|outlook\.office365\.com|mail\.yahoo\.com|mail\.aol\.com|webmail\..*)$'
{%- endmacro %}

{% macro site_hosts_list() -%}
    {%- set hosts = var('site_hosts') -%}
    [{%- for h in hosts %}'{{ h | lower | replace("'", "''") }}'{{ ", " if not loop.last }}{% endfor -%}]::varchar[]
{%- endmacro %}

{# The referring host unless it is the shop's own (hosts as url_host gives them). #}
{% macro external_host(referring_host, landing_host) -%}
    case
        when {{ referring_host }} = {{ landing_host }} then null
        when list_contains({{ site_hosts_list() }}, {{ referring_host }}) then null
        else {{ referring_host }}
    end
{%- endmacro %}

{% macro has_text(column) -%}
    (nullif(trim({{ column }}), '') is not null)
{%- endmacro %}

{# Google Ads marks a click with gclid, or on iOS with gbraid / wbraid; gad_source comes with them. #}
{% macro google_ads_click() -%}
    (gclid is not null or gbraid is not null or wbraid is not null)
{%- endmacro %}

{#
  A campaign tag without utm_source still makes the visit a campaign, as in GA4: the source is
  "(not set)" and the referrer is not used.
#}
{% macro campaign_tagged() -%}
    ({{ has_text('utm_medium') }} or {{ has_text('utm_campaign') }}
        or {{ has_text('utm_term') }} or {{ has_text('utm_content') }})
{%- endmacro %}

{% macro traffic_source() -%}
    case
        when {{ has_text('utm_source') }} then lower(trim(utm_source))
        when {{ google_ads_click() }} then 'google'
        -- Campaign Manager 360 / Display & Video 360 (GA reports these clicks as dfa / cpm)
        when dclid is not null then 'dfa'
        when gad_source is not null then 'google'
        when msclkid is not null then 'bing'
        when ttclid is not null then 'tiktok'
        when fbclid is not null then 'facebook'
        when {{ campaign_tagged() }} then '(not set)'
        when referrer_host is not null then referrer_host
        else '(direct)'
    end
{%- endmacro %}

{# The medium, once the source and its category (source_category) are known. #}
{% macro traffic_medium(source_category) -%}
    case
        when {{ has_text('utm_medium') }} then lower(trim(utm_medium))
        when {{ has_text('utm_source') }} then '(not set)'
        when {{ google_ads_click() }} then 'cpc'
        when dclid is not null then 'cpm'
        when gad_source is not null or msclkid is not null or ttclid is not null then 'cpc'
        when {{ campaign_tagged() }} then '(not set)'
        when referrer_host is null then '(none)'
        when regexp_matches(referrer_host, {{ webmail_pattern() }}) then 'email'
        when {{ source_category }} = 'SOURCE_CATEGORY_SEARCH' and source = referrer_host
            then 'organic'
        else 'referral'
    end
{%- endmacro %}

{#
  The keys under which a source is looked up in Google's table, most specific first: the source
  itself; for a host, each parent domain (uk.search.yahoo.com: search.yahoo.com, yahoo.com); and
  for a host without subdomain, its name without the public suffix (google.co.uk: google), as
  the table names search engines by name. A webmail host has none (see traffic_medium).
#}
{% macro source_lookup_keys(source) -%}
    case
        when regexp_matches({{ source }}, {{ webmail_pattern() }}) then []::varchar[]
        else list_filter(
            [{{ source }}]
            || list_transform(
                range(2, len(string_split({{ source }}, '.'))),
                lambda i: array_to_string(string_split({{ source }}, '.')[i:], '.'))
            || [{{ site_name(source) }}],
            lambda key: key is not null)
    end
{%- endmacro %}

{#
  A two- or three-label host's name without its public suffix: google.com, google.co.uk and
  google.com.br give google; a host with a subdomain gives null.
#}
{% macro site_name(host) -%}
    case
        when len(string_split({{ host }}, '.')) = 2 then string_split({{ host }}, '.')[1]
        when len(string_split({{ host }}, '.')) = 3
            and len(string_split({{ host }}, '.')[3]) = 2
            and string_split({{ host }}, '.')[2] in ('co', 'com', 'net', 'org', 'ac', 'gov',
                                                     'edu', 'ne', 'or', 'go', 'gob', 'gen')
            then string_split({{ host }}, '.')[1]
    end
{%- endmacro %}

{#
  source -> source_category for every distinct `source` of `relation`: the category of its most
  specific key (source_lookup_keys) in `table` (the seed ga4_source_categories: source,
  source_category); sources not in the table are left out.
#}
{% macro source_categories(relation, table) -%}
    with distinct_sources as (
        -- the keys after the distinct: once per source, not once per row of `relation`
        select source, {{ source_lookup_keys('source') }} as lookup_keys
        from (select distinct source from {{ relation }})
    ),
    keyed as (
        select source, lookup_keys[key_rank] as lookup_key, key_rank
        from (
            select source, lookup_keys, generate_subscripts(lookup_keys, 1) as key_rank
            from distinct_sources
        )
    ),
    categories as (
        select lower(source) as lookup_key, source_category
        from {{ table }}
    )
    select keyed.source, arg_min(categories.source_category, keyed.key_rank) as source_category
    from keyed
    inner join categories on categories.lookup_key = keyed.lookup_key
    group by keyed.source
{%- endmacro %}

{#
  Google Analytics 4's default channel group, rules in GA4's order of precedence
  (support.google.com/analytics/answer/9756891); "source matches a list of search / social /
  video / shopping sites" is the source's category in Google's table.
#}
{% macro default_channel_group(source, medium, campaign, source_category) -%}
    {%- set paid = "'^(.*cp.*|ppc|retargeting|paid.*)$'" -%}
    {%- set shop_campaign = "'^(.*(([^a-df-z]|^)shop|shopping).*)$'" -%}
    {%- set shopping = source_category ~ " = 'SOURCE_CATEGORY_SHOPPING'" -%}
    {%- set search = source_category ~ " = 'SOURCE_CATEGORY_SEARCH'" -%}
    {%- set social = source_category ~ " = 'SOURCE_CATEGORY_SOCIAL'" -%}
    {%- set video = source_category ~ " = 'SOURCE_CATEGORY_VIDEO'" -%}
    case
        when {{ source }} = '(direct)' and {{ medium }} in ('(none)', '(not set)') then 'Direct'
        when coalesce(lower({{ campaign }}), '') like '%cross-network%' then 'Cross-network'
        when ({{ shopping }}
                or regexp_matches(coalesce(lower({{ campaign }}), ''), {{ shop_campaign }}))
            and regexp_matches({{ medium }}, {{ paid }}) then 'Paid Shopping'
        when {{ search }} and regexp_matches({{ medium }}, {{ paid }}) then 'Paid Search'
        when {{ social }} and regexp_matches({{ medium }}, {{ paid }}) then 'Paid Social'
        when {{ video }} and regexp_matches({{ medium }}, {{ paid }}) then 'Paid Video'
        when {{ medium }} in ('display', 'banner', 'expandable', 'interstitial', 'cpm')
            then 'Display'
        when regexp_matches({{ medium }}, {{ paid }}) then 'Paid Other'
        when {{ shopping }}
            or regexp_matches(coalesce(lower({{ campaign }}), ''), {{ shop_campaign }})
            then 'Organic Shopping'
        when {{ social }}
            or {{ medium }} in ('social', 'social-network', 'social-media', 'sm',
                                'social network', 'social media') then 'Organic Social'
        when {{ video }} or regexp_matches({{ medium }}, '^(.*video.*)$') then 'Organic Video'
        when {{ search }} or {{ medium }} = 'organic' then 'Organic Search'
        when {{ medium }} in ('referral', 'app', 'link') then 'Referral'
        when {{ source }} in ('email', 'e-mail', 'e_mail', 'e mail')
            or {{ medium }} in ('email', 'e-mail', 'e_mail', 'e mail') then 'Email'
        when {{ medium }} = 'affiliate' then 'Affiliates'
        when {{ medium }} = 'audio' then 'Audio'
        when {{ source }} = 'sms' or {{ medium }} = 'sms' then 'SMS'
        when {{ medium }} like '%push' or {{ medium }} like '%mobile%'
            or {{ medium }} like '%notification%' or {{ source }} = 'firebase'
            then 'Mobile Push Notifications'
        else 'Unassigned'
    end
{%- endmacro %}

{% macro channel_names() -%}
    {{ return(['Direct', 'Cross-network', 'Paid Shopping', 'Paid Search', 'Paid Social',
               'Paid Video', 'Display', 'Paid Other', 'Organic Shopping', 'Organic Social',
               'Organic Video', 'Organic Search', 'Referral', 'Email', 'Affiliates', 'Audio',
               'SMS', 'Mobile Push Notifications', 'Unassigned']) }}
{%- endmacro %}
