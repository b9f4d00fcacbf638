{#
  The person (global_user_id) of each offline record in `relation`: found in `identities` by its
  customer id (typed as the identity mapping types that column), else its email, else its phone.
  Held-out identifiers link nobody, so they find nobody here either.
#}
{% macro with_person(relation, identities) -%}
    with

    records as (

        select * from {{ relation }}

    ),

    wanted as (

        select customer_id_type as identifier_type, customer_id as identifier_value
        from records where customer_id_type is not null
        union
        select 'email', email from records where email is not null
        union
        select 'phone', phone from records where phone is not null

    ),

    identities as materialized (

        select identities.identifier_type, identities.identifier_value, identities.global_user_id
        from {{ identities }} as identities
        semi join wanted
            on wanted.identifier_type = identities.identifier_type
            and wanted.identifier_value = identities.identifier_value
        where not coalesce(identities.held_out, false)

    )

    select
        records.*,
        coalesce(by_id.global_user_id, by_email.global_user_id, by_phone.global_user_id)
            as global_user_id
    from records
    left join identities as by_id
        on by_id.identifier_type = records.customer_id_type
        and by_id.identifier_value = records.customer_id
    left join identities as by_email
        on by_email.identifier_type = 'email' and by_email.identifier_value = records.email
    left join identities as by_phone
        on by_phone.identifier_type = 'phone' and by_phone.identifier_value = records.phone
{%- endmacro %}
