# Fixes the duplicate SKUs (every copy but the first gets its id appended),
# then makes the SKU unique.
class UniqueSku < ActiveRecord::Migration[6.1]
  def up
    execute <<~SQL
      UPDATE products p
        JOIN (SELECT sku, MIN(id) AS keep_id FROM products GROUP BY sku) k
          ON p.sku = k.sku AND p.id <> k.keep_id
        SET p.sku = CONCAT(p.sku, '-', p.id)
    SQL
    add_index :products, :sku, unique: true
  end

  def down
    remove_index :products, :sku
  end
end
