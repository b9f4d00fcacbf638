{#
  Where a session came from, in Google Analytics 4's terms: a source and a medium from the
  campaign tags, else from an ad click id, else from the referring site, else (direct) / (none).
  A referrer on the shop's own host (the landing URL's host or a CDPFLOW_SITE_HOSTS entry) is not
  a referral.
#}

{% macro url_host(url) -%}
    nullif(regexp_replace(lower(regexp_extract({{ url }}, '^[a-zA-Z][a-zA-Z0-9+.-]*://([^/:?#]+)', 1)), '^www\.', ''), '')
{%- endmacro %}

{% macro search_engine_pattern() -%}
    '^(google|bing|yahoo|search\.yahoo|duckduckgo|baidu|yandex|ecosia|ask|aol|naver|seznam|qwant|startpage|search\.brave)(\.[a-z.]+)?$'
{%- endmacro %}

{% macro social_pattern() -%}
    '^(l\.|lm\.|m\.|mobile\.)?(facebook|fb|instagram|ig|twitter|t\.co|x\.com|linkedin|lnkd\.in|pinterest|reddit|tiktok|snapchat|threads|tumblr|quora|vk|whatsapp|messenger|discord)(\.[a-z.]+)?$'
{%- endmacro %}

{% macro video_pattern() -%}
    '^(m\.)?(youtube|youtu\.be|vimeo|twitch|dailymotion)(\.[a-z.]+)?$'
{%- endmacro %}

{% macro shopping_pattern() -%}
    '^(shopping|google shopping|amazon|ebay|etsy|walmart|shopify|alibaba|shop\.app)(\.[a-z.]+)?$'
{%- endmacro %}

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

{% macro traffic_source(utm_source, gclid, msclkid, ttclid, fbclid, ref_host) -%}
    coalesce(
        nullif(lower(trim({{ utm_source }})), ''),
        case
            when {{ gclid }} is not null then 'google'
            when {{ msclkid }} is not null then 'bing'
            when {{ ttclid }} is not null then 'tiktok'
            when {{ fbclid }} is not null then 'facebook'
        end,
        {{ ref_host }},
        '(direct)'
    )
{%- endmacro %}

{% macro traffic_medium(utm_source, utm_medium, gclid, msclkid, ttclid, fbclid, ref_host) -%}
    case
        when nullif(trim({{ utm_medium }}), '') is not null then lower(trim({{ utm_medium }}))
        when nullif(trim({{ utm_source }}), '') is not null then '(not set)'
        when {{ gclid }} is not null or {{ msclkid }} is not null or {{ ttclid }} is not null
            then 'cpc'
        when {{ ref_host }} is null then '(none)'
        when regexp_matches({{ ref_host }}, {{ search_engine_pattern() }}) then 'organic'
        when regexp_matches({{ ref_host }}, {{ webmail_pattern() }}) then 'email'
        else 'referral'
    end
{%- endmacro %}

{#
  Google Analytics 4's default channel group, rules in GA4's order of precedence
  (support.google.com/analytics/answer/9756891).
#}
{% macro default_channel_group(source, medium, campaign) -%}
    {%- set paid = "'^(.*cp.*|ppc|retargeting|paid.*)$'" -%}
    {%- set shop_campaign = "'^(.*(([^a-df-z]|^)shop|shopping).*)$'" -%}
    case
        when {{ source }} = '(direct)' and {{ medium }} in ('(none)', '(not set)') then 'Direct'
        when coalesce(lower({{ campaign }}), '') like '%cross-network%' then 'Cross-network'
        when (regexp_matches({{ source }}, {{ shopping_pattern() }})
                or regexp_matches(coalesce(lower({{ campaign }}), ''), {{ shop_campaign }}))
            and regexp_matches({{ medium }}, {{ paid }}) then 'Paid Shopping'
        when regexp_matches({{ source }}, {{ search_engine_pattern() }})
            and regexp_matches({{ medium }}, {{ paid }}) then 'Paid Search'
        when regexp_matches({{ source }}, {{ social_pattern() }})
            and regexp_matches({{ medium }}, {{ paid }}) then 'Paid Social'
        when regexp_matches({{ source }}, {{ video_pattern() }})
            and regexp_matches({{ medium }}, {{ paid }}) then 'Paid Video'
        when {{ medium }} in ('display', 'banner', 'expandable', 'interstitial', 'cpm')
            then 'Display'
        when regexp_matches({{ medium }}, {{ paid }}) then 'Paid Other'
        when regexp_matches({{ source }}, {{ shopping_pattern() }})
            or regexp_matches(coalesce(lower({{ campaign }}), ''), {{ shop_campaign }})
            then 'Organic Shopping'
        when regexp_matches({{ source }}, {{ social_pattern() }})
            or {{ medium }} in ('social', 'social-network', 'social-media', 'sm',
                                'social network', 'social media') then 'Organic Social'
        when regexp_matches({{ source }}, {{ video_pattern() }})
            or regexp_matches({{ medium }}, '^(.*video.*)$') then 'Organic Video'
        when regexp_matches({{ source }}, {{ search_engine_pattern() }})
            or {{ medium }} = 'organic' then 'Organic Search'
        when {{ medium }} in ('referral', 'app', 'link') then 'Referral'
        when {{ source }} in ('email', 'e-mail', 'e_mail', 'e mail')
            or {{ medium }} in ('email', 'e-mail', 'e_mail', 'e mail') then 'Email'
        when {{ medium }} = 'affiliate' then 'Affiliates'
        when {{ medium }} = 'audio' then 'Audio'
        when {{ source }} = 'sms' or {{ medium }} = 'sms' then 'SMS'
        when {{ medium }} like '%push' or {{ medium }} like '%mobile%'
            or {{ medium }} like '%notification%' then 'Mobile Push Notifications'
        else 'Unassigned'
    end
{%- endmacro %}

{% macro channel_names() -%}
    {{ return(['Direct', 'Cross-network', 'Paid Shopping', 'Paid Search', 'Paid Social',
               'Paid Video', 'Display', 'Paid Other', 'Organic Shopping', 'Organic Social',
               'Organic Video', 'Organic Search', 'Referral', 'Email', 'Affiliates', 'Audio',
               'SMS', 'Mobile Push Notifications', 'Unassigned']) }}
{%- endmacro %}
