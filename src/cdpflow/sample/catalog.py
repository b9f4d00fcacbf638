"""Fixed storefront facts: products, people's names, devices and traffic sources.

Kept as plain constants so every seed shares one shop and only behaviour varies.
"""

from __future__ import annotations

from dataclasses import dataclass

SHOP = "https://shop.example.com"
SHOP_NAME = "Example Shop"


@dataclass(frozen=True, slots=True)
class Product:
    """One catalogue item; `price` is in USD."""

    product_id: str
    sku: str
    handle: str
    name: str
    price: float
    collection: str


_PRODUCT_ROWS = (
    ("t-shirts", "TEE", "Organic Cotton Tee", 28.0, ("BLK", "WHT", "NVY")),
    ("t-shirts", "PKT", "Pocket Tee", 32.0, ("OLV", "GRY")),
    ("t-shirts", "LST", "Long Sleeve Tee", 38.0, ("BLK", "SND")),
    ("hoodies", "HOD", "Merino Hoodie", 89.0, ("CHR", "NVY")),
    ("hoodies", "ZIP", "Zip Fleece Hoodie", 74.0, ("BLK", "RST")),
    ("hoodies", "CRW", "Heavyweight Crewneck", 64.0, ("GRY", "CRM")),
    ("footwear", "RUN", "Trail Runner", 129.0, ("BLK", "BLU")),
    ("footwear", "SNK", "Canvas Sneaker", 69.0, ("WHT", "BLK", "RED")),
    ("footwear", "SLD", "Recovery Slide", 45.0, ("SND",)),
    ("accessories", "CAP", "Six Panel Cap", 26.0, ("BLK", "KHK")),
    ("accessories", "BNE", "Rib Knit Beanie", 24.0, ("ORG", "NVY")),
    ("accessories", "TOT", "Canvas Tote", 19.0, ("NAT",)),
    ("accessories", "SCK", "Merino Socks 3-Pack", 29.0, ("MIX",)),
    ("accessories", "BTL", "Insulated Bottle", 34.0, ("STL", "GRN")),
)
_COLOURS = {
    "BLK": "Black", "WHT": "White", "NVY": "Navy", "OLV": "Olive", "GRY": "Grey", "SND": "Sand",
    "CHR": "Charcoal", "RST": "Rust", "CRM": "Cream", "BLU": "Blue", "RED": "Red", "KHK": "Khaki",
    "ORG": "Orange", "NAT": "Natural", "MIX": "Mixed", "STL": "Steel", "GRN": "Green",
}  # fmt: skip


def _products() -> tuple[Product, ...]:
    items: list[Product] = []
    for collection, code, name, price, colours in _PRODUCT_ROWS:
        for colour in colours:
            number = 7_401_000 + len(items) * 37
            handle = f"{name} {_COLOURS[colour]}".lower().replace(" ", "-")
            items.append(
                Product(
                    product_id=str(number),
                    sku=f"{code}-{colour}",
                    handle=handle,
                    name=f"{name} - {_COLOURS[colour]}",
                    price=price,
                    collection=collection,
                )
            )
    return tuple(items)


PRODUCTS = _products()
COLLECTIONS = ("t-shirts", "hoodies", "footwear", "accessories", "new-arrivals", "sale")
BY_COLLECTION = {
    c: tuple(p for p in PRODUCTS if p.collection == c) or PRODUCTS[::3] for c in COLLECTIONS
}
EUR_PER_USD = 0.92

FIRST_NAMES = (
    "Jane", "John", "Maria", "Wei", "Aisha", "Carlos", "Emma", "Liam", "Olivia", "Noah", "Sofia",
    "Mateo", "Priya", "Arjun", "Chloe", "Lucas", "Hannah", "Daniel", "Yuki", "Kenji", "Fatima",
    "Omar", "Grace", "Ethan", "Zoe", "Samuel", "Amara", "Kwame", "Elena", "Ivan", "Nora", "Leo",
    "Mia", "Jonas", "Ines", "Tomas", "Sara", "David", "Lena", "Marco",
)  # fmt: skip
LAST_NAMES = (
    "Doe", "Smith", "Garcia", "Chen", "Khan", "Lopez", "Johnson", "Brown", "Nguyen", "Patel",
    "Kim", "Muller", "Rossi", "Silva", "Okafor", "Mensah", "Tanaka", "Sato", "Ivanova", "Novak",
    "Dubois", "Martin", "Lee", "Walker", "Young", "Hughes", "Fischer", "Jansen", "Costa", "Ali",
)  # fmt: skip
EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com")
AREA_CODES = (
    "415", "212", "312", "617", "206", "512", "303", "404", "305", "702", "213", "646", "718",
    "503", "612", "919", "615", "480", "801", "858",
)  # fmt: skip

UA_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_7_8 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/460.0.0.37.107]",
)
UA_ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.6367.82 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/123.0.6312.118 Mobile Safari/537.36",
)
UA_DESKTOP = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4.1 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.67",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
)
UA_IOS_APP = "ExampleShop/3.4.1 (com.example.shop; build:341; iOS 17.4.1) Alamofire/5.8.1"
IOS_MODELS = ("iPhone14,5", "iPhone15,2", "iPhone15,4", "iPhone16,1", "iPhone13,2")

# US-centric storefront: busiest in the US evening (00:00-04:00 UTC), quiet in the US night.
HOUR_WEIGHTS = (
    9.0, 9.0, 8.0, 7.0, 5.0, 3.0, 2.0, 1.5, 1.2, 1.2, 1.5, 2.0,
    3.0, 4.0, 5.0, 5.5, 6.0, 6.0, 6.5, 7.0, 7.5, 8.0, 8.5, 9.0,
)  # fmt: skip

# Channel mix for a first visit, a returning visit, and a session in the iOS app.
CHANNELS = (
    "google_cpc", "facebook", "email", "organic", "referral", "direct", "bing_cpc", "tiktok",
)  # fmt: skip
CHANNEL_WEIGHTS_FIRST = (20, 14, 4, 24, 9, 19, 4, 6)
CHANNEL_WEIGHTS_RETURN = (10, 8, 18, 16, 5, 39, 2, 2)
CHANNEL_WEIGHTS_APP = (8, 8, 22, 0, 0, 62, 0, 0)

GOOGLE_CAMPAIGNS = ("brand_search", "shopping_all_products", "generic_hoodies", "pmax_spring")
GOOGLE_TERMS = (
    "example shop", "organic cotton t-shirt", "merino hoodie", "trail running shoes",
    "canvas sneakers", "rib knit beanie",
)  # fmt: skip
BING_CAMPAIGNS = ("brand_search_bing", "shopping_bing")
FACEBOOK_CAMPAIGNS = ("prospecting_lookalike", "retargeting_cart_7d", "spring_sale_video")
FACEBOOK_CONTENT = ("carousel_v2", "ugc_video_15s", "static_lifestyle")
FACEBOOK_REFERRERS = (
    "https://l.facebook.com/", "https://lm.facebook.com/", "https://l.instagram.com/",
)  # fmt: skip
TIKTOK_CAMPAIGNS = ("spark_ads_creators", "spring_sale_topview")
ORGANIC_REFERRERS = (
    ("https://www.google.com/", 80), ("https://www.bing.com/", 14), ("https://duckduckgo.com/", 6),
)  # fmt: skip
REFERRAL_SITES = (
    "https://www.reddit.com/r/BuyItForLife/", "https://blog.example.org/best-hoodies-2024",
    "https://www.pinterest.com/", "https://news.example.net/gift-guide",
    "https://www.youtube.com/", "https://t.co/",
)  # fmt: skip
EMAIL_REFERRERS = ("", "", "https://mail.google.com/", "https://outlook.live.com/")
