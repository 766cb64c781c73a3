-- products: the catalogue; prices and costs come from macros that sales and inventory reuse.
-- Columns: product_id, sku, product_name, category, unit_price, unit_cost, is_discontinued.
-- Parameters: seed, products.
SELECT
    product_id,
    'SKU-' || upper(category[1:3]) || '-' || lpad(CAST(product_id AS VARCHAR), 6, '0') AS sku,
    CASE
        WHEN is_odd(product_id, $products, 1) THEN odd_pick(odd_names(), product_id, $products, 1)
        ELSE pick(['Classic', 'Premium', 'Eco', 'Smart', 'Compact', 'Deluxe', 'Ultra', 'Everyday',
                   'Pro', 'Vintage', 'Nordic', 'Organic'], $seed, product_id, 2)
            || ' ' || pick(CASE category
                WHEN 'electronics' THEN ['27" Monitor', 'Wireless Earbuds', 'USB-C Hub, 7-in-1',
                                         'Laptop Stand', 'Smart Speaker', 'Action Camera']
                WHEN 'apparel' THEN ['T-Shirt', 'Rain Jacket', 'Wool Socks', 'Denim Jeans',
                                     'Sneakers', 'Hoodie']
                WHEN 'home' THEN ['Cast-Iron Skillet', 'Throw Pillow', 'Desk Lamp', 'Coffee Grinder',
                                  'Bath Towel Set', 'Café Mug']
                WHEN 'grocery' THEN ['Olive Oil, 1 L', 'Espresso Beans', 'Jasmine Rice',
                                     'Dark Chocolate 70%', 'Maple Syrup', 'Crème Fraîche']
                WHEN 'beauty' THEN ['Face Serum', 'Shampoo', 'Lip Balm', 'Sunscreen SPF 50',
                                    'Hand Cream', 'Eau de Parfum']
                WHEN 'sports' THEN ['Yoga Mat', 'Running Shoes', 'Water Bottle', 'Tennis Racket',
                                    'Cycling Helmet', 'Resistance Bands']
                WHEN 'toys' THEN ['Building Blocks', 'Puzzle, 1000 pieces', 'Plush Bear', 'RC Car',
                                  'Board Game', 'Kite']
                ELSE ['Cookbook', 'Mystery Novel', 'Atlas of the World', 'Children''s Picture Book',
                      'Poetry Collection', 'Sci-Fi Anthology']
            END, $seed, product_id, 3)
    END AS product_name,
    category,
    cents(product_price_cents($seed, product_id)) AS unit_price,
    cents(product_cost_cents($seed, product_id)) AS unit_cost,
    product_discontinued($seed, product_id) AS is_discontinued
FROM (SELECT range AS product_id, product_category($seed, range) AS category FROM range(1, $products + 1))
